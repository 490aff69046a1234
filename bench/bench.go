package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

const (
	clusterSize = 7 // redis-server processes started
	mainNodes   = 5 // nodes of the main comparisons
)

// bench runs the scenarios on one set of nodes and keeps what the target
// ratios need.
type bench struct {
	o       options
	nodes   []lease.Node    // all started nodes, as lease.Node
	clients []*redis.Client // the same nodes' clients
	s       settings
	m       *meter // requests sent to the nodes, CPU use

	single, parallel []cycleResult
	contended        []handoffResult
	field            fieldResults
}

func newBench(c *leasetest.Cluster, o options) *bench {
	b := &bench{o: o, nodes: c.LeaseNodes(), s: settings{ttl: o.ttl, nodeTimeout: o.nodeTimeout}, m: &meter{reqs: &requestCounter{}}}
	for _, n := range c.Nodes {
		n.Client.AddHook(b.m.reqs)
		b.clients = append(b.clients, n.Client)
	}
	b.m.clients = b.clients
	return b
}

func (b *bench) run(ctx context.Context) error {
	if err := fillPools(ctx, b.clients); err != nil {
		return err
	}
	b.printHeader(ctx)
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"single", b.runSingle},
		{"parallel", b.runParallel},
		{"contended", b.runContended},
		{"nodes", b.runNodes},
		{"held", b.runHeld},
		{"temporal", b.runTemporal},
		{"field", b.runField},
		{"permits", b.runPermits},
	}
	for _, st := range steps {
		if !b.o.scenarios[st.name] {
			continue
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		progress("scenario %s", st.name)
		if err := st.run(ctx); err != nil {
			return fmt.Errorf("scenario %s: %w", st.name, err)
		}
	}
	return nil
}

// peers returns fresh redlease, redsync and floor peers over the main
// nodes; close closes the redlease client.
func (b *bench) peers(wait time.Duration) (rl *redleasePeer, rs *redsyncPeer, fl *floorPeer, err error) {
	rl, err = newRedlease(b.nodes[:mainNodes], b.s, wait)
	if err != nil {
		return nil, nil, nil, err
	}
	return rl, newRedsync(b.clients[:mainNodes], b.s), &floorPeer{clients: b.clients[:mainNodes], ttl: b.s.ttl}, nil
}

func (b *bench) runSingle(ctx context.Context) error {
	rl, rs, fl, err := b.peers(0)
	if err != nil {
		return err
	}
	defer rl.close()
	b.single = interleaveCycles(ctx, []locker{rl, rs, fl}, b.m, 1, b.o.rounds, b.o.warmup, b.o.dur, "single")
	cyclesTable(fmt.Sprintf("1. Uncontended acquire+release, 1 goroutine, same key, %d nodes, %v", mainNodes, b.o.dur), b.single).print(os.Stdout)
	return ctx.Err()
}

func (b *bench) runParallel(ctx context.Context) error {
	rl, rs, fl, err := b.peers(0)
	if err != nil {
		return err
	}
	defer rl.close()
	pctx, stop := context.WithCancel(ctx)
	pf, waitPF := newPipelinedFloor(pctx, b.clients[:mainNodes], b.s.ttl)
	defer func() { stop(); waitPF() }()
	b.parallel = interleaveCycles(ctx, []locker{rl, rs, fl, pf}, b.m, b.o.goroutines, b.o.rounds, b.o.warmup, b.o.dur, "parallel")
	t := cyclesTable(fmt.Sprintf("2. Uncontended acquire+release, %d goroutines, one key each, %d nodes, %v",
		b.o.goroutines, mainNodes, b.o.dur), b.parallel)
	t.note("floor, auto-pipelined is a reference, not a peer: the floor's commands, coalesced per node into pipelines by one dispatcher goroutine per node, as redlease does.")
	t.print(os.Stdout)
	return ctx.Err()
}

func (b *bench) runContended(ctx context.Context) error {
	rl, rs, _, err := b.peers(b.o.dur + 5*time.Second)
	if err != nil {
		return err
	}
	defer rl.close()
	sitOut := time.Second
	peers := []waiter{rl, rs}
	b.contended = make([]handoffResult, len(peers))
	for round := range b.o.rounds {
		for i, p := range peers {
			if ctx.Err() != nil {
				break
			}
			key := fmt.Sprintf("contended/%s/%d", p.name(), round)
			b.contended[i].add(runContended(ctx, p, b.m, b.o.goroutines, b.o.warmup, b.o.dur/time.Duration(b.o.rounds), b.o.cs, sitOut, key))
		}
	}
	t := contendedTable(fmt.Sprintf("3. %d goroutines contending for one key, critical section %v, %d nodes, %v",
		b.o.goroutines, b.o.cs, mainNodes, b.o.dur), b.contended)
	t.note("handoff: from the holder starting its release to the next holder's acquire returning; a releaser sits out until another goroutine holds the lock (at most %v).", sitOut)
	t.note("redlease waits with WithWait (Pub/Sub wake-up, backoff fallback); redsync retries with its default random 50–250 ms delay.")
	t.print(os.Stdout)
	return ctx.Err()
}

func (b *bench) runNodes(ctx context.Context) error {
	t, err := nodeSweep(ctx, b.m, b.nodes, b.clients, b.s, b.o.nodeCounts, b.o.rounds, b.o.warmup, b.o.dur/2)
	t.print(os.Stdout)
	return err
}

func (b *bench) runHeld(ctx context.Context) error {
	rl, rs, _, err := b.peers(0)
	if err != nil {
		return err
	}
	defer rl.close()
	var results []heldResult
	for _, n := range b.o.leaseCounts {
		for _, p := range []holder{rl, rs} {
			if err := b.flush(ctx); err != nil {
				return err
			}
			progress("  held: %d %s", n, p.name())
			var atPeak func()
			if b.o.memProfile != "" && p == holder(rl) && n == slices.Max(b.o.leaseCounts) {
				atPeak = func() { writeHeapProfile(b.o.memProfile) }
			}
			results = append(results, runHeld(ctx, p, n, b.o.goroutines, b.o.holdTTL, b.o.dur/2, fmt.Sprintf("held/%s/%d", p.name(), n), atPeak))
			if ctx.Err() != nil {
				break
			}
		}
	}
	t := heldTable(fmt.Sprintf("6. Concurrently held locks with keepers (TTL %v, keeper every TTL/3), %d nodes", b.o.holdTTL, mainNodes), results)
	t.note("redlease: WithLeaseTTL(%v), WithKeepAlive(0). redsync has no keeper: each mutex gets the goroutine a user would write (ticker, ExtendContext).", b.o.holdTTL)
	t.note("B/lock and goroutines/lock: (after − before)/held, after runtime.GC; acquire p50/p99: another key, 1 goroutine, %v, while the locks are held.", b.o.dur/2)
	t.note("heap B/lock counts Go heap objects only; goroutine stacks are in stack B/lock. At 1 and 10 held locks both are within GC noise (even negative).")
	t.print(os.Stdout)
	return ctx.Err()
}

// flush empties every node, so scenarios do not see each other's keys.
// A flushed node counts as one that lost its data and would sit out the
// restart guard; no lease lives between scenarios, so the bench declares
// the nodes new again (lease.InitNode).
func (b *bench) flush(ctx context.Context) error {
	for _, c := range b.clients {
		if err := c.FlushAll(ctx).Err(); err != nil {
			return fmt.Errorf("FLUSHALL %s: %w", c.Options().Addr, err)
		}
		if _, err := lease.InitNode(ctx, c); err != nil {
			return fmt.Errorf("init %s: %w", c.Options().Addr, err)
		}
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
