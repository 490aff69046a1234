package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// loopResult is the outcome of goroutines looping wait-acquire+release on
// one key with no pause in between: rueidislock's own benchmark shape. A
// releaser asks again at once, so a lock that lets it barge back in gains
// throughput and loses fairness; the per-goroutine spread shows which.
type loopResult struct {
	peer     string
	ops      int // acquire+release cycles completed during the measurement
	errs     int
	firstErr error
	elapsed  time.Duration
	cycle    samples // acquireWait (waiting included) + release
	perG     []int   // cycles per goroutine
	// whole-process heap allocations during the measurement
	mallocs, allocBytes uint64
}

func (r loopResult) perSecond() float64 { return rate(r.ops, r.elapsed) }

// add merges another slice of the same peer's measurement into r.
func (r *loopResult) add(o loopResult) {
	r.peer = o.peer
	r.ops += o.ops
	r.errs += o.errs
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.cycle = merge([]samples{r.cycle, o.cycle})
	if r.perG == nil {
		r.perG = make([]int, len(o.perG))
	}
	for i, n := range o.perG {
		r.perG[i] += n
	}
	r.mallocs += o.mallocs
	r.allocBytes += o.allocBytes
}

// interleaveLoops measures each peer for dur in total, in rounds that
// alternate between the peers, each round on a fresh key after a discarded
// warm-up on another.
func interleaveLoops(ctx context.Context, peers []waiter, workers, rounds int, warmup, dur time.Duration, prefix string) []loopResult {
	res := make([]loopResult, len(peers))
	for round := range rounds {
		for i, p := range peers {
			if ctx.Err() != nil {
				return res
			}
			key := fmt.Sprintf("%s/%d/%d", prefix, i, round)
			if round == 0 {
				_ = runLoop(ctx, p, workers, warmup, key+"/warmup")
			}
			res[i].add(runLoop(ctx, p, workers, dur/time.Duration(rounds), key))
		}
	}
	return res
}

// runLoop has workers goroutines loop acquireWait then release on key for
// dur.
func runLoop(ctx context.Context, p waiter, workers int, dur time.Duration, key string) loopResult {
	mctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	type part struct {
		cyc      samples
		errs     int
		firstErr error
	}
	parts := make([]part, workers)
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			setPeerLabel(ctx, p.name())
			pt := &parts[w]
			pt.cyc = newSamples()
			for mctx.Err() == nil {
				t0 := time.Now()
				rel, err := p.acquireWait(mctx, key)
				if err == nil {
					err = rel(context.WithoutCancel(ctx))
				}
				if err != nil {
					if mctx.Err() == nil {
						pt.errs++
						pt.firstErr = err
					}
					continue
				}
				if mctx.Err() == nil {
					pt.cyc.add(time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	r := loopResult{peer: p.name(), elapsed: min(time.Since(start), dur)}
	runtime.ReadMemStats(&mem1)
	r.mallocs, r.allocBytes = mem1.Mallocs-mem0.Mallocs, mem1.TotalAlloc-mem0.TotalAlloc
	var cyc []samples
	for _, pt := range parts {
		cyc = append(cyc, pt.cyc)
		r.perG = append(r.perG, len(pt.cyc))
		r.errs += pt.errs
		if r.firstErr == nil {
			r.firstErr = pt.firstErr
		}
	}
	r.cycle = merge(cyc)
	r.ops = len(r.cycle)
	return r
}

// loopTable prints loop results side by side; "slowest/fastest goroutine"
// is the fewest cycles one goroutine completed over the most: 1 is fair.
func loopTable(title string, results []loopResult) *table {
	t := newTable(title, "peer", "cycles", "cycles/s", "cycle p50", "cycle p99", "cycle max",
		"slowest/fastest goroutine", "allocs/cycle", "B/cycle", "errors")
	for _, r := range results {
		if r.peer == "" {
			continue
		}
		spread := "-"
		if len(r.perG) > 0 && slices.Max(r.perG) > 0 {
			spread = fmt.Sprintf("%.2f", float64(slices.Min(r.perG))/float64(slices.Max(r.perG)))
		}
		allocs, bytes := "-", "-"
		if r.ops > 0 {
			allocs, bytes = fmt.Sprintf("%.0f", float64(r.mallocs)/float64(r.ops)), fmt.Sprintf("%.0f", float64(r.allocBytes)/float64(r.ops))
		}
		t.row(r.peer, r.ops, r.perSecond(), fmtDur(r.cycle.p50()), fmtDur(r.cycle.p99()), fmtDur(r.cycle.pct(100)), spread, allocs, bytes, r.errs)
		if r.firstErr != nil {
			t.note("%s: first error: %v", r.peer, r.firstErr)
		}
	}
	return t
}
