package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// fillPools makes every client open its PoolSize connections now: it takes
// that many dedicated connections, pings on each, and hands them back. No
// scenario then pays for dialing, and the held-locks scenario does not count
// new connections' buffers as per-lock memory.
func fillPools(ctx context.Context, clients []*redis.Client) error {
	var errs []error
	for _, c := range clients {
		conns := make([]*redis.Conn, 0, c.Options().PoolSize)
		for range c.Options().PoolSize {
			conn := c.Conn()
			conns = append(conns, conn)
			if err := conn.Ping(ctx).Err(); err != nil {
				errs = append(errs, fmt.Errorf("fill pool of %s: %w", c.Options().Addr, err))
				break
			}
		}
		for _, conn := range conns {
			_ = conn.Close()
		}
	}
	return errors.Join(errs...)
}
