package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/redisconf"
	"github.com/redlease/redlease/lease"
)

// config is what every command needs: the nodes (as the worker takes
// them), the output format, and where the Temporal web UI is.
type config struct {
	redis        []*redis.Options
	tls          redisconf.TLS
	nodeTimeout  time.Duration
	restartGuard time.Duration
	output       string // "table" or "json"
	temporalUI   string // base URL of the Temporal web UI, "" for none
}

// setting is a flag with its environment variable and default.
type setting struct {
	name, env, def, usage string
	value                 *string
}

// flags registers the common settings on fs and returns them, to be
// resolved (flag, else variable, else default) once fs is parsed.
func flags(fs *flag.FlagSet) []*setting {
	list := []*setting{
		{name: "redis", env: "REDLEASE_REDIS_URLS", usage: "comma-separated redis:// or rediss:// URLs of the lease nodes (required)"},
		{name: "redis-tls-ca", env: "REDLEASE_REDIS_TLS_CA", usage: "PEM file of the CA(s) that signed the rediss:// nodes' certificates"},
		{name: "redis-tls-cert", env: "REDLEASE_REDIS_TLS_CERT", usage: "PEM client certificate (mutual TLS), with -redis-tls-key"},
		{name: "redis-tls-key", env: "REDLEASE_REDIS_TLS_KEY", usage: "PEM key of -redis-tls-cert"},
		{name: "redis-tls-server-name", env: "REDLEASE_REDIS_TLS_SERVER_NAME", usage: "name to verify in the nodes' certificates instead of the URL's host"},
		{name: "node-timeout", env: "REDLEASE_NODE_TIMEOUT", def: "500ms", usage: "bound on each request to one node"},
		{name: "restart-guard", env: "REDLEASE_RESTART_GUARD", def: "1m", usage: "the restart guard your clients use (bounds the release tombstone's TTL)"},
		{name: "o", env: "REDLEASE_OUTPUT", def: "table", usage: "output: table (for people) or json (for scripts)"},
		{name: "temporal-ui", env: "TEMPORAL_UI", usage: "base URL of the Temporal web UI, for links to a holder's workflow"},
	}
	for _, s := range list {
		s.value = new(string)
		fs.StringVar(s.value, s.name, "", s.usage)
	}
	return list
}

// resolve turns the settings into a config: a flag given wins, else its
// variable, else its default.
func resolve(fs *flag.FlagSet, list []*setting, getenv func(string) string) (config, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	get := func(name string) (string, string) {
		for _, s := range list {
			if s.name != name {
				continue
			}
			switch {
			case given[name]:
				return *s.value, "-" + name
			case getenv(s.env) != "":
				return getenv(s.env), s.env
			}
			return s.def, "-" + name
		}
		panic("no setting " + name)
	}
	var cfg config
	var err error
	urls, src := get("redis")
	if urls == "" {
		return cfg, errors.New("-redis (or REDLEASE_REDIS_URLS) is required: the lease nodes' URLs, as the worker takes them")
	}
	if cfg.redis, err = redisconf.ParseURLs(urls); err != nil {
		return cfg, fmt.Errorf("invalid %s: %w", src, err)
	}
	cfg.tls.CAFile, _ = get("redis-tls-ca")
	cfg.tls.CertFile, _ = get("redis-tls-cert")
	cfg.tls.KeyFile, _ = get("redis-tls-key")
	cfg.tls.ServerName, _ = get("redis-tls-server-name")
	if err := cfg.tls.Apply(cfg.redis...); err != nil {
		return cfg, fmt.Errorf("invalid TLS settings (-redis-tls-*): %w", err)
	}
	for name, d := range map[string]*time.Duration{"node-timeout": &cfg.nodeTimeout, "restart-guard": &cfg.restartGuard} {
		v, src := get(name)
		if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
			return cfg, fmt.Errorf("invalid %s: %q is not a positive duration", src, v)
		}
	}
	cfg.output, src = get("o")
	if cfg.output != "table" && cfg.output != "json" {
		return cfg, fmt.Errorf("invalid %s: %q (want table or json)", src, cfg.output)
	}
	cfg.temporalUI, _ = get("temporal-ui")
	cfg.temporalUI = strings.TrimRight(cfg.temporalUI, "/")
	return cfg, nil
}

// client opens the node clients and a lease client over them; closeAll
// closes both.
func (cfg config) client() (lc *lease.Client, clients []*redis.Client, closeAll func(), err error) {
	nodes := make([]lease.Node, len(cfg.redis))
	for i, o := range cfg.redis {
		o.MaxRetries = -1
		c := redis.NewClient(o)
		clients = append(clients, c)
		nodes[i] = c
	}
	closeNodes := func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}
	lc, err = lease.New(nodes, lease.WithNodeTimeout(cfg.nodeTimeout), lease.WithRestartGuard(cfg.restartGuard),
		lease.WithTTL(min(lease.DefaultTTL, cfg.restartGuard)))
	if err != nil {
		closeNodes()
		return nil, nil, nil, err
	}
	return lc, clients, func() { _ = lc.Close(); closeNodes() }, nil
}

// parseArgs parses args with fs, letting flags and positional arguments
// mix (redlease status printer -o json), and returns the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
