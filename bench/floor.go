package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// floorPeer is the lower bound of a quorum lock's client overhead: a plain
// parallel SET key val NX PX ttl to every node, then a parallel DEL, one
// goroutine per node per operation, waiting for all nodes, with no Lua, no
// owner check, no fencing counter and no per-node timer.
type floorPeer struct {
	clients []*redis.Client
	ttl     time.Duration
}

var (
	errFloorNotSet     = errors.New("floor: SET NX succeeded on fewer than a majority of nodes")
	errFloorNotDeleted = errors.New("floor: DEL succeeded on fewer than a majority of nodes")
)

func (p *floorPeer) name() string { return "floor" }

func (p *floorPeer) acquire(ctx context.Context, key string) (release, error) {
	set := p.each(func(c *redis.Client) bool { return c.SetNX(ctx, key, "floor", p.ttl).Val() })
	if set <= len(p.clients)/2 {
		return nil, errFloorNotSet
	}
	return func(ctx context.Context) error {
		if p.each(func(c *redis.Client) bool { return c.Del(ctx, key).Err() == nil }) <= len(p.clients)/2 {
			return errFloorNotDeleted
		}
		return nil
	}, nil
}

// each runs op on every node at once and returns how many reported true.
func (p *floorPeer) each(op func(*redis.Client) bool) int {
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for _, c := range p.clients {
		wg.Go(func() {
			if op(c) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return int(ok.Load())
}
