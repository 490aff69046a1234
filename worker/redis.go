package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

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
