package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// runOneNode compares the four Go locks on one Redis node: uncontended
// with one goroutine, and 16 goroutines on one key.
func (b *bench) runOneNode(ctx context.Context) error {
	rl, err := newRedlease(b.nodes[:1], b.s, b.o.dur+5*time.Second)
	if err != nil {
		return err
	}
	defer rl.close()
	rs := newRedsync(b.clients[:1], b.s)
	bl := newRedislock(b.clients[0], b.s)
	rd, err := newRueidislock(b.clients[0].Options().Addr, b.s)
	if err != nil {
		return err
	}
	defer rd.close()

	single := interleaveCycles(ctx, []locker{rl, rs, bl, rd}, b.m, 1, b.o.rounds, b.o.warmup, b.o.dur, "onenode")
	ta := cyclesTable(fmt.Sprintf("8a. One node: uncontended acquire+release, 1 goroutine, same key, %v", b.o.dur), single)
	ta.note("requests/cycle counts go-redis requests only: rueidislock has its own client (its requests show as 0).")
	ta.print(os.Stdout)

	sitOut := time.Second
	peers := []waiter{rl, rs, bl, rd}
	res := make([]handoffResult, len(peers))
	for round := range b.o.rounds {
		for i, p := range peers {
			if ctx.Err() != nil {
				break
			}
			key := fmt.Sprintf("onenode-contended/%d/%d", i, round)
			res[i].add(runContended(ctx, p, b.m, b.o.goroutines, b.o.warmup, b.o.dur/time.Duration(b.o.rounds), b.o.cs, sitOut, key))
		}
	}
	t := contendedTable(fmt.Sprintf("8b. One node: %d goroutines contending for one key, critical section %v, %v", b.o.goroutines, b.o.cs, b.o.dur), res)
	t.note("redlease waits with WithWait (Pub/Sub wake-up); redsync with its random 50–250 ms retry; bsm/redislock retries every 1 ms; rueidislock waits on client-side-caching invalidations.")
	t.print(os.Stdout)
	return ctx.Err()
}
