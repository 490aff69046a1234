package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// fieldResults are the shapes of the field comparison: redlease against
// every Go lock a user would pick instead, on one node and on five.
type fieldResults struct {
	oneSerial, oneOwnKeys   []cycleResult // 1 node
	oneKey                  []loopResult  // 1 node, one key, no pause
	fiveSerial, fiveOwnKeys []cycleResult // 5 nodes (the last of fiveOwnKeys is the pipelined floor)
	fiveOneKey              []loopResult  // 5 nodes, one key, no pause
}

// runField runs the shapes of issue 11 with all peers in one run: redlease
// first in every list, peers after it.
func (b *bench) runField(ctx context.Context) error {
	g, wait := b.o.goroutines, b.o.dur+5*time.Second
	rl1, err := newRedlease(b.nodes[:1], b.s, wait)
	if err != nil {
		return err
	}
	defer rl1.close()
	rd, err := newRueidislock(b.clients[0].Options().Addr, b.s)
	if err != nil {
		return err
	}
	defer rd.close()
	one := []waiter{rl1, newRedsync(b.clients[:1], b.s), newRedislock(b.clients[0], b.s), rd}
	f := &b.field

	f.oneSerial = interleaveCycles(ctx, lockers(one), b.m, 1, b.o.rounds, b.o.warmup, b.o.dur, "field1/serial")
	t := cyclesTable(fmt.Sprintf("F1. One node: uncontended acquire+release, 1 goroutine, %v", b.o.dur), f.oneSerial)
	t.note("requests/cycle counts go-redis requests only: rueidislock has its own client (its requests show as 0).")
	t.print(os.Stdout)

	f.oneOwnKeys = interleaveCycles(ctx, lockers(one), b.m, g, b.o.rounds, b.o.warmup, b.o.dur, "field1/own")
	cyclesTable(fmt.Sprintf("F2. One node: uncontended acquire+release, %d goroutines, one key each, %v", g, b.o.dur), f.oneOwnKeys).print(os.Stdout)

	f.oneKey = interleaveLoops(ctx, one, g, b.o.rounds, b.o.warmup, b.o.dur, "field1/onekey")
	t = loopTable(fmt.Sprintf("F3. One node: %d goroutines looping wait-acquire+release on one key, no pause, %v", g, b.o.dur), f.oneKey)
	t.note("rueidislock's own benchmark shape. A cycle is the wait for the lock plus the release. Waiting: redlease WithWait (in-process hand-off, Pub/Sub wake-up); redsync its random 50–250 ms retry; bsm/redislock a 1 ms retry; rueidislock client-side-caching invalidations.")
	t.print(os.Stdout)
	if err := ctx.Err(); err != nil {
		return err
	}

	rl5, rs5, _, err := b.peers(wait)
	if err != nil {
		return err
	}
	defer rl5.close()
	five := []waiter{rl5, rs5}
	f.fiveSerial = interleaveCycles(ctx, lockers(five), b.m, 1, b.o.rounds, b.o.warmup, b.o.dur, "field5/serial")
	t = cyclesTable(fmt.Sprintf("F4. %d nodes: uncontended acquire+release, 1 goroutine, %v", mainNodes, b.o.dur), f.fiveSerial)
	t.note("bsm/redislock and rueidislock have no multi-node mode (rueidislock's KeyMajority spreads keys over one Redis, not over independent nodes): redsync is the only peer.")
	t.print(os.Stdout)

	pctx, stop := context.WithCancel(ctx)
	pf, waitPF := newPipelinedFloor(pctx, b.clients[:mainNodes], b.s.ttl)
	defer func() { stop(); waitPF() }()
	f.fiveOwnKeys = interleaveCycles(ctx, append(lockers(five), pf), b.m, g, b.o.rounds, b.o.warmup, b.o.dur, "field5/own")
	t = cyclesTable(fmt.Sprintf("F5. %d nodes: uncontended acquire+release, %d goroutines, one key each, %v", mainNodes, g, b.o.dur), f.fiveOwnKeys)
	t.note("floor, auto-pipelined is a reference, not a peer: SET NX PX and a compare-and-delete script, coalesced per node into pipelines.")
	t.print(os.Stdout)

	f.fiveOneKey = interleaveLoops(ctx, five, g, b.o.rounds, b.o.warmup, b.o.dur, "field5/onekey")
	loopTable(fmt.Sprintf("F6. %d nodes: %d goroutines looping wait-acquire+release on one key, no pause, %v", mainNodes, g, b.o.dur), f.fiveOneKey).print(os.Stdout)
	return ctx.Err()
}

func lockers(ws []waiter) []locker {
	ls := make([]locker, len(ws))
	for i, w := range ws {
		ls[i] = w
	}
	return ls
}

// printFieldTargets prints issue 11's goals as ratios of this run: redlease
// against the peer with the highest throughput in each shape.
func (f *fieldResults) print(w io.Writer) {
	if f.oneSerial == nil {
		return
	}
	t := newTable("Field targets (ratios measured in this run; best peer = highest throughput)",
		"shape", "redlease", "best peer", "throughput ratio (≥ 1.0×)", "allocs/cycle (≤ best peer's)", "p99 (≤ ½ best peer's)", "result")
	cycleRow := func(shape string, rs []cycleResult, peers int) {
		if len(rs) < 2 || rs[0].peer == "" {
			return
		}
		best := rs[1]
		for _, r := range rs[2 : 1+peers] {
			if r.perSecond() > best.perSecond() {
				best = r
			}
		}
		ratio := rs[0].perSecond() / best.perSecond()
		a, pa := perCycle(rs[0].mallocs, rs[0].allCycles), perCycle(best.mallocs, best.allCycles)
		t.row(shape, fmt.Sprintf("%.0f/s", rs[0].perSecond()), fmt.Sprintf("%s %.0f/s", best.peer, best.perSecond()),
			fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("%.0f vs %.0f", a, pa), "-", verdict(ratio >= 1 && a <= pa))
	}
	loopRow := func(shape string, rs []loopResult) {
		if len(rs) < 2 || rs[0].peer == "" {
			return
		}
		best := rs[1]
		for _, r := range rs[2:] {
			if r.perSecond() > best.perSecond() {
				best = r
			}
		}
		ratio := rs[0].perSecond() / best.perSecond()
		a, pa := perCycle(rs[0].mallocs, rs[0].ops), perCycle(best.mallocs, best.ops)
		p99, pp99 := rs[0].cycle.p99(), best.cycle.p99()
		t.row(shape, fmt.Sprintf("%.0f/s, p99 %s", rs[0].perSecond(), fmtDur(p99)),
			fmt.Sprintf("%s %.0f/s, p99 %s", best.peer, best.perSecond(), fmtDur(pp99)),
			fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("%.0f vs %.0f", a, pa), fmt.Sprintf("%.2f×", float64(p99)/float64(pp99)),
			verdict(ratio >= 1 && a <= pa && 2*p99 <= pp99))
	}
	cycleRow("1 node, 1 goroutine", f.oneSerial, 3)
	cycleRow("1 node, 16 goroutines, own keys", f.oneOwnKeys, 3)
	loopRow("1 node, 16 goroutines, one key", f.oneKey)
	cycleRow("5 nodes, 1 goroutine", f.fiveSerial, 1)
	cycleRow("5 nodes, 16 goroutines, own keys", f.fiveOwnKeys, 1)
	if len(f.fiveOwnKeys) == 3 && f.fiveOwnKeys[2].perSecond() > 0 {
		rl, pf := f.fiveOwnKeys[0], f.fiveOwnKeys[2]
		ratio := rl.perSecond() / pf.perSecond()
		t.row("5 nodes, 16 goroutines, own keys vs the pipelined floor", fmt.Sprintf("%.0f/s", rl.perSecond()),
			fmt.Sprintf("floor %.0f/s", pf.perSecond()), fmt.Sprintf("%.2f× (goal ≥ 0.9×)", ratio), "-", "-", verdict(ratio >= 0.9))
	}
	loopRow("5 nodes, 16 goroutines, one key", f.fiveOneKey)
	t.note("the goroutine counts are -goroutines (16 by default).")
	t.print(w)
}

func perCycle(n uint64, cycles int) float64 {
	if cycles == 0 {
		return 0
	}
	return float64(n) / float64(cycles)
}
