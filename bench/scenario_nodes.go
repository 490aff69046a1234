package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// nodeSweep measures single-goroutine acquire latency over the first n
// nodes of the cluster, for each n in counts: redlease, redsync and the
// floor's SET NX round.
func nodeSweep(ctx context.Context, m *meter, nodes []lease.Node, clients []*redis.Client, s settings, counts []int, rounds int, warmup, dur time.Duration) (*table, error) {
	t := newTable(fmt.Sprintf("5. Acquire latency vs number of nodes N (1 goroutine, %v per peer and N)", dur),
		"N", "quorum", "redlease p50", "redlease p99", "redsync p50", "redsync p99", "floor SET p50", "floor SET p99", "errors")
	for _, n := range counts {
		if n > len(nodes) {
			return t, fmt.Errorf("node sweep: %d nodes requested, %d started", n, len(nodes))
		}
		rl, err := newRedlease(nodes[:n], s, 0)
		if err != nil {
			return t, err
		}
		peers := []locker{rl, newRedsync(clients[:n], s), &floorPeer{clients: clients[:n], ttl: s.ttl}}
		res := interleaveCycles(ctx, peers, m, 1, rounds, warmup, dur, fmt.Sprintf("nodes/n%d", n))
		rl.close()
		errs := 0
		for _, r := range res {
			errs += r.errs
			if r.firstErr != nil {
				t.note("N=%d %s: first error: %v", n, r.peer, r.firstErr)
			}
		}
		t.row(n, n/2+1, fmtDur(res[0].acquire.p50()), fmtDur(res[0].acquire.p99()),
			fmtDur(res[1].acquire.p50()), fmtDur(res[1].acquire.p99()),
			fmtDur(res[2].acquire.p50()), fmtDur(res[2].acquire.p99()), errs)
		if ctx.Err() != nil {
			return t, ctx.Err()
		}
	}
	return t, nil
}
