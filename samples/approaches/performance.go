package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// ttl is the lease time of every lock in the run, unless a scenario says
// otherwise: long enough that no lease runs out during a demonstration.
const ttl = 10 * time.Second

// nodeTimeout is package lease's per-node timeout here: generous, so that
// a loaded two-core machine (or -race) does not turn slow replies into
// failed nodes.
const nodeTimeout = 250 * time.Millisecond

// perfNodes is how many nodes part A needs: 1 single node, 5 for Redlock,
// 1 primary (plus its replica, started separately).
const perfNodes = 7

// approach is one of the three, ready to be measured.
type approach struct {
	name string
	lock locker
}

// approaches builds the three approaches over nodes (perfNodes of them;
// nodes[6] is the primary that has a replica). The caller closes the
// returned Client.
func approaches(nodes []*leasetest.Node) ([]approach, *lease.Client, error) {
	lockNodes := make([]lease.Node, 5)
	for i, n := range nodes[1:6] {
		lockNodes[i] = n.Client
	}
	c, err := lease.New(lockNodes, lease.WithTTL(ttl), lease.WithNodeTimeout(nodeTimeout))
	if err != nil {
		return nil, nil, err
	}
	return []approach{
		{"single node", singleNode{rdb: nodes[0].Client, ttl: ttl}},
		{"redlock, 5 nodes", redlock{c}},
		{"primary + replica", singleNode{rdb: nodes[6].Client, ttl: ttl}},
	}, c, nil
}

// performance measures every approach with 1 goroutine, then with workers
// goroutines on distinct keys, d each, and prints the table to w.
func performance(ctx context.Context, w io.Writer, as []approach, workers int, d time.Duration) error {
	fmt.Fprintf(w, "%-19s %30s   %37s\n", "", "1 goroutine", fmt.Sprintf("%d goroutines, distinct keys", workers))
	fmt.Fprintf(w, "%-19s %9s %9s %10s   %9s %9s %10s\n", "approach", "p50", "p99", "cycles/s", "p50", "p99", "cycles/s")
	for _, a := range as {
		// Warm up: dial the connections and load the scripts first.
		if _, err := measure(ctx, a.lock, workers, d/10); err != nil {
			return fmt.Errorf("%s, warm-up: %w", a.name, err)
		}
		one, err := measure(ctx, a.lock, 1, d)
		if err != nil {
			return fmt.Errorf("%s, 1 goroutine: %w", a.name, err)
		}
		many, err := measure(ctx, a.lock, workers, d)
		if err != nil {
			return fmt.Errorf("%s, %d goroutines: %w", a.name, workers, err)
		}
		fmt.Fprintf(w, "%-19s %9s %9s %10.0f   %9s %9s %10.0f\n", a.name,
			short(one.percentile(0.5)), short(one.percentile(0.99)), one.rate(),
			short(many.percentile(0.5)), short(many.percentile(0.99)), many.rate())
	}
	return nil
}

// short prints a latency to three significant digits or so.
func short(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < 10*time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(100 * time.Microsecond).String()
}
