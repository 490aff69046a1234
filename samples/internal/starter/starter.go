// Package starter holds what the samples' starters share: the flags that
// find Temporal and the sample store (the worker's -store-redis, with the
// worker's TLS settings), and the connections to them.
package starter

import (
	"flag"
	"fmt"
	"os"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/redisconf"
	"go.temporal.io/sdk/client"
)

// Flags are the settings every starter takes.
type Flags struct {
	Address, Queue, StoreURL, StoreName string
	TLS                                 redisconf.TLS
}

// Register adds the common flags to fs, with the worker's environment
// variables as defaults.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Address, "temporal-address", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend (env TEMPORAL_ADDRESS)")
	fs.StringVar(&f.Queue, "task-queue", envOr("REDLEASE_TASK_QUEUE", "redlease"), "the worker's task queue (env REDLEASE_TASK_QUEUE)")
	fs.StringVar(&f.StoreURL, "store", envOr("REDLEASE_STORE_URL", ""), "redis:// or rediss:// URL of the sample store, as given to the worker (env REDLEASE_STORE_URL)")
	fs.StringVar(&f.StoreName, "store-name", envOr("REDLEASE_STORE_NAME", "redlease-demo"), "the store's name, as given to the worker")
	fs.StringVar(&f.TLS.CAFile, "redis-tls-ca", os.Getenv("REDLEASE_REDIS_TLS_CA"), "for a rediss:// store: PEM file of the CA that signed its certificate")
	fs.StringVar(&f.TLS.CertFile, "redis-tls-cert", os.Getenv("REDLEASE_REDIS_TLS_CERT"), "for a rediss:// store: PEM client certificate (mutual TLS)")
	fs.StringVar(&f.TLS.KeyFile, "redis-tls-key", os.Getenv("REDLEASE_REDIS_TLS_KEY"), "PEM key of -redis-tls-cert")
	fs.StringVar(&f.TLS.ServerName, "redis-tls-server-name", os.Getenv("REDLEASE_REDIS_TLS_SERVER_NAME"), "name to verify in the store's certificate")
}

// Store opens the sample store's Redis client.
func (f *Flags) Store() (*redis.Client, error) {
	if f.StoreURL == "" {
		return nil, fmt.Errorf("-store is required: the store URL given to the worker")
	}
	opt, err := redisconf.ParseURL(f.StoreURL)
	if err != nil {
		return nil, fmt.Errorf("-store: %w", err)
	}
	if err := f.TLS.Apply(opt); err != nil {
		return nil, fmt.Errorf("TLS settings (-redis-tls-*): %w", err)
	}
	return redis.NewClient(opt), nil
}

// Temporal dials the Temporal frontend.
func (f *Flags) Temporal() (client.Client, error) {
	c, err := client.Dial(client.Options{HostPort: f.Address})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", f.Address, err)
	}
	return c, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
