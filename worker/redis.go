package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// parseRedisURLs parses a comma-separated list of Redis URLs (see
// parseRedisURL). Errors name the entry by position and never show a
// password.
func parseRedisURLs(list string) ([]*redis.Options, error) {
	parts := strings.Split(list, ",")
	opts := make([]*redis.Options, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("URL %d of %d is empty", i+1, len(parts))
		}
		o, err := parseRedisURL(part)
		if err != nil {
			return nil, fmt.Errorf("URL %d of %d: %w", i+1, len(parts), err)
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// parseRedisURL parses redis://[user:password@]host[:port][/db][?option=value]
// or the same with rediss:// (TLS) through redis.ParseURL, which also takes
// go-redis's query options (dial_timeout, pool_size, ...). The client it
// describes has ContextTimeoutEnabled, so the lease package's node timeout
// also gives up the connection's request.
func parseRedisURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the raw URL, password included
		}
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	shown := u.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%s: scheme %q is not redis:// or rediss://", shown, u.Scheme)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", shown, redactPassword(err.Error(), u))
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}

// redactPassword removes u's password from msg.
func redactPassword(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// redisClients opens a client per options (no connection is made until
// the first request).
func redisClients(opts []*redis.Options) []*redis.Client {
	clients := make([]*redis.Client, len(opts))
	for i, o := range opts {
		clients[i] = redis.NewClient(o)
	}
	return clients
}

// leaseNodes returns clients as lease nodes.
func leaseNodes(clients []*redis.Client) []lease.Node {
	nodes := make([]lease.Node, len(clients))
	for i, c := range clients {
		nodes[i] = c
	}
	return nodes
}

// pingNodes pings every node at once, within timeout, and logs a warning
// per node that does not answer. It is advice only: Redlock works while a
// majority answers, and nodes may come up after the worker.
func pingNodes(ctx context.Context, logger *slog.Logger, clients []*redis.Client, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			if err := c.Ping(ctx).Err(); err != nil {
				logger.Warn("redis node not answering at start", "node", i, "addr", c.Options().Addr, "error", err)
			}
		})
	}
	wg.Wait()
}

// closeRedis closes clients, joining their errors.
func closeRedis(clients ...*redis.Client) error {
	var errs []error
	for _, c := range clients {
		if c != nil {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close redis %s: %w", c.Options().Addr, err))
			}
		}
	}
	return errors.Join(errs...)
}
