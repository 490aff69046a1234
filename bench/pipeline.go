package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// pipelinedFloor is a bench-side prototype, not a peer: the floor's SET NX
// and DEL rounds, but every node's requests from all goroutines are
// coalesced by one dispatcher goroutine per node into pipelines (one write
// and one read for many requests). It shows the throughput a client with
// automatic per-node pipelining could reach.
type pipelinedFloor struct {
	ttl   time.Duration
	nodes []*dispatcher
}

type dispatcher struct {
	client *redis.Client
	queue  chan pending
}

type pending struct {
	cmd  redis.Cmder
	done chan struct{}
}

// maxBatch bounds the commands of one pipeline.
const maxBatch = 128

// newPipelinedFloor starts one dispatcher per client; they stop when ctx
// ends, and wait returns once they have.
func newPipelinedFloor(ctx context.Context, clients []*redis.Client, ttl time.Duration) (p *pipelinedFloor, wait func()) {
	p = &pipelinedFloor{ttl: ttl}
	var wg sync.WaitGroup
	for _, c := range clients {
		d := &dispatcher{client: c, queue: make(chan pending, maxBatch)}
		p.nodes = append(p.nodes, d)
		wg.Go(func() { d.run(ctx) })
	}
	return p, wg.Wait
}

func (d *dispatcher) run(ctx context.Context) {
	batch := make([]pending, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-d.queue:
			batch = append(batch, r)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-d.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		pipe := d.client.Pipeline()
		for _, r := range batch {
			_ = pipe.Process(ctx, r.cmd)
		}
		_, _ = pipe.Exec(ctx) // errors are in each command
		for _, r := range batch {
			close(r.done)
		}
	}
}

// do queues cmd and waits for its reply.
func (d *dispatcher) do(ctx context.Context, cmd redis.Cmder) error {
	r := pending{cmd: cmd, done: make(chan struct{})}
	select {
	case d.queue <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-r.done:
		return cmd.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipelinedFloor) name() string { return "floor, auto-pipelined" }

func (p *pipelinedFloor) acquire(ctx context.Context, key string) (release, error) {
	set := p.each(func(d *dispatcher) bool {
		cmd := redis.NewBoolCmd(ctx, "set", key, "floor", "px", p.ttl.Milliseconds(), "nx")
		return d.do(ctx, cmd) == nil && cmd.Val()
	})
	if set <= len(p.nodes)/2 {
		return nil, errFloorNotSet
	}
	return func(ctx context.Context) error {
		if p.each(func(d *dispatcher) bool { return d.do(ctx, redis.NewIntCmd(ctx, "del", key)) == nil }) <= len(p.nodes)/2 {
			return errFloorNotDeleted
		}
		return nil
	}, nil
}

// each runs op on every node at once and returns how many reported true.
func (p *pipelinedFloor) each(op func(*dispatcher) bool) int {
	var (
		wg sync.WaitGroup
		ok atomic.Int32
	)
	for _, d := range p.nodes {
		wg.Go(func() {
			if op(d) {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return int(ok.Load())
}
