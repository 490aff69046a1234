package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/redlease/redlease/lease"
)

// permitPeer takes one of k permits of a resource through the redlease
// client of a redleasePeer.
type permitPeer struct {
	rl *redleasePeer
	k  int
}

func (p *permitPeer) name() string { return fmt.Sprintf("redlease permits, K = %d", p.k) }

func (p *permitPeer) acquire(ctx context.Context, key string) (release, error) {
	pm, err := p.rl.c.AcquirePermit(ctx, key, p.k)
	if err != nil {
		return nil, err
	}
	return pm.Release, nil
}

func (p *permitPeer) acquireWait(ctx context.Context, key string) (release, error) {
	pm, err := p.rl.c.AcquirePermit(ctx, key, p.k, lease.WithWait(p.rl.wait))
	if err != nil {
		return nil, err
	}
	return pm.Release, nil
}

// runPermits compares permits for K = 1, 4, 16 with the lease, on the main
// nodes: one goroutine looping acquire+release (the cost of a permit
// alone), then 16 goroutines looping wait-acquire+release on one resource
// (contended: the hand-offs).
func (b *bench) runPermits(ctx context.Context) error {
	rl, _, _, err := b.peers(b.o.dur + b.o.warmup + 5*time.Second)
	if err != nil {
		return err
	}
	defer rl.close()
	peers := []waiter{rl, &permitPeer{rl: rl, k: 1}, &permitPeer{rl: rl, k: 4}, &permitPeer{rl: rl, k: 16}}
	solo := interleaveLoops(ctx, peers, 1, b.o.rounds, b.o.warmup, b.o.dur, "permits-solo")
	t := loopTable(fmt.Sprintf("P1. %d nodes: 1 goroutine looping acquire+release on one resource: a lease, and one of K permits, %v",
		mainNodes, b.o.dur), solo)
	t.note("uncontended: the cost of one acquisition and release. A permit acquisition reads which slots are held (one round) before it takes one, except for K = 1.")
	t.print(os.Stdout)
	if err := ctx.Err(); err != nil {
		return err
	}
	res := interleaveLoops(ctx, peers, b.o.goroutines, b.o.rounds, b.o.warmup, b.o.dur, "permits")
	t = loopTable(fmt.Sprintf("P2. %d nodes: %d goroutines looping wait-acquire+release on one resource: a lease, and one of K permits, %v",
		mainNodes, b.o.goroutines, b.o.dur), res)
	t.note("contended: a release hands the lock (or the permit's slot) to the first waiter of the same client and limit. With K = 16 and 16 goroutines nobody waits.")
	t.print(os.Stdout)
	return ctx.Err()
}
