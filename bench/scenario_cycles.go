package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// cycleResult is the outcome of goroutines looping acquire+release.
type cycleResult struct {
	peer     string
	cycles   int
	errs     int
	firstErr error
	elapsed  time.Duration
	acquire  samples // acquire latency
	release  samples // release latency
	cycle    samples // acquire + release
	// requests sent to the nodes during allCycles cycles (warm-up included)
	requests  int64
	allCycles int
	cpu       cpuUse // CPU used during allCycles cycles
	// heap allocations (count and bytes) of the whole process during
	// allCycles cycles: the lock's own goroutines count, and so does the
	// harness's small share (the same for every peer)
	mallocs, allocBytes uint64
}

// allocsPerCycle is allocations and bytes allocated per cycle.
func (r cycleResult) allocsPerCycle() (allocs, bytes string) {
	if r.allCycles == 0 {
		return "-", "-"
	}
	n := float64(r.allCycles)
	return fmt.Sprintf("%.0f", float64(r.mallocs)/n), fmt.Sprintf("%.0f", float64(r.allocBytes)/n)
}

func (r cycleResult) perSecond() float64 { return rate(r.cycles, r.elapsed) }

func (r cycleResult) perCycle() string { return perEvent(r.requests, r.allCycles) }

// add merges another slice of the same peer's measurement into r.
func (r *cycleResult) add(o cycleResult) {
	r.peer = o.peer
	r.cycles += o.cycles
	r.errs += o.errs
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.acquire = merge([]samples{r.acquire, o.acquire})
	r.release = merge([]samples{r.release, o.release})
	r.cycle = merge([]samples{r.cycle, o.cycle})
	r.requests += o.requests
	r.allCycles += o.allCycles
	r.cpu.client += o.cpu.client
	r.cpu.server += o.cpu.server
	r.mallocs += o.mallocs
	r.allocBytes += o.allocBytes
}

// interleaveCycles measures each peer for dur in total, split into rounds
// that alternate between the peers, so that a slow phase of the machine
// hits every peer alike. The first round of each peer has the full warm-up,
// later ones a quarter of it.
func interleaveCycles(ctx context.Context, peers []locker, m *meter, workers, rounds int, warmup, dur time.Duration, prefix string) []cycleResult {
	res := make([]cycleResult, len(peers))
	for round := range rounds {
		for i, p := range peers {
			if ctx.Err() != nil {
				return res
			}
			warm := warmup
			if round > 0 {
				warm = warmup / 4
			}
			res[i].add(runCycles(ctx, p, m, workers, warm, dur/time.Duration(rounds), prefix))
		}
	}
	return res
}

// runCycles has workers goroutines each loop acquire then release on its
// own key (prefix/peer/w<i>) for dur, after an unrecorded warm-up (script
// loading, connection pools). A failed acquire or release counts as an
// error and the loop goes on.
func runCycles(ctx context.Context, p locker, m *meter, workers int, warmup, dur time.Duration, prefix string) cycleResult {
	type part struct {
		acq, rel, cyc samples
		all, errs     int // all: cycles including warm-up
		firstErr      error
	}
	m0 := m.sample(ctx)
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	parts := make([]part, workers)
	start := time.Now()
	recordFrom, end := start.Add(warmup), start.Add(warmup+dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			setPeerLabel(ctx, p.name())
			key := fmt.Sprintf("%s/%s/w%d", prefix, p.name(), w)
			pt := &parts[w]
			pt.acq, pt.rel, pt.cyc = newSamples(), newSamples(), newSamples()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				rel, err := p.acquire(ctx, key)
				t1 := time.Now()
				if err == nil {
					err = rel(ctx)
				}
				t2 := time.Now()
				pt.all++
				if !t0.After(recordFrom) {
					continue
				}
				if err != nil {
					pt.errs++
					if pt.firstErr == nil {
						pt.firstErr = err
					}
					continue
				}
				pt.acq.add(t1.Sub(t0))
				pt.rel.add(t2.Sub(t1))
				pt.cyc.add(t2.Sub(t0))
			}
		})
	}
	wg.Wait()
	runtime.ReadMemStats(&mem1)
	r := cycleResult{peer: p.name(), elapsed: time.Since(recordFrom),
		mallocs: mem1.Mallocs - mem0.Mallocs, allocBytes: mem1.TotalAlloc - mem0.TotalAlloc}
	r.requests, r.cpu = m.since(ctx, m0)
	var acq, rel, cyc []samples
	for _, pt := range parts {
		r.allCycles += pt.all
		acq, rel, cyc = append(acq, pt.acq), append(rel, pt.rel), append(cyc, pt.cyc)
		r.errs += pt.errs
		if r.firstErr == nil {
			r.firstErr = pt.firstErr
		}
	}
	r.acquire, r.release, r.cycle = merge(acq), merge(rel), merge(cyc)
	r.cycles = len(r.cycle)
	return r
}

// cyclesTable prints cycle results of several peers side by side.
func cyclesTable(title string, results []cycleResult) *table {
	t := newTable(title, "peer", "cycles", "cycles/s", "cycle p50", "cycle p99",
		"acquire p50", "acquire p99", "release p50", "release p99", "requests/cycle", "client CPU/cycle", "server CPU/cycle",
		"allocs/cycle", "B/cycle", "errors")
	for _, r := range results {
		if r.peer == "" {
			continue // not measured (interrupted)
		}
		client, server := r.cpu.perOp(r.allCycles)
		allocs, bytes := r.allocsPerCycle()
		t.row(r.peer, r.cycles, r.perSecond(), fmtDur(r.cycle.p50()), fmtDur(r.cycle.p99()),
			fmtDur(r.acquire.p50()), fmtDur(r.acquire.p99()),
			fmtDur(r.release.p50()), fmtDur(r.release.p99()), r.perCycle(), client, server, allocs, bytes, r.errs)
		if r.firstErr != nil {
			t.note("%s: first error: %v", r.peer, r.firstErr)
		}
	}
	return t
}
