package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/redlease/redlease/lease"
)

// holder takes a long-lived lock whose keeper extends it every TTL/3
// until release.
type holder interface {
	locker
	hold(ctx context.Context, key string, ttl time.Duration) (release, error)
}

// hold uses the lease package's own keeper.
func (p *redleasePeer) hold(ctx context.Context, key string, ttl time.Duration) (release, error) {
	l, err := p.c.Acquire(ctx, key, lease.WithLeaseTTL(ttl), lease.WithKeepAlive(0))
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// hold pairs a redsync mutex with the keeper a redsync user has to write: a
// goroutine extending it every TTL/3, stopped before the unlock.
func (p *redsyncPeer) hold(ctx context.Context, key string, ttl time.Duration) (release, error) {
	m := p.rs.NewMutex(key, redsync.WithExpiry(ttl), redsync.WithTries(1),
		redsync.WithTimeoutFactor(float64(p.s.nodeTimeout)/float64(ttl)))
	if err := m.LockContext(ctx); err != nil {
		return nil, err
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				ectx, cancel := context.WithTimeout(context.Background(), p.s.nodeTimeout)
				_, _ = m.ExtendContext(ectx)
				cancel()
			}
		}
	}()
	return func(ctx context.Context) error {
		close(stop)
		<-done
		return p.unlock(ctx, m)
	}, nil
}

// heldResult is the cost of n locks held at once, each with its keeper.
type heldResult struct {
	peer          string
	n             int
	take, drop    time.Duration // time to acquire all n, to release all n
	heapPer       float64       // heap bytes per held lock
	stackPer      float64       // goroutine stack bytes per held lock
	goroutinesPer float64
	leftOver      int     // goroutines above the baseline after releasing all
	probe         samples // acquire latency of another key while the n are held
	errs          int
	firstErr      error
}

type memPoint struct {
	heap, stack uint64
	goroutines  int
}

func measureMem() memPoint {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memPoint{heap: m.HeapAlloc, stack: m.StackInuse, goroutines: runtime.NumGoroutine()}
}

// runHeld takes n locks with ttl (workers at a time), measures memory and
// goroutines per lock, probes acquire latency on another key for probe,
// then releases them all (workers at a time).
// atPeak, when not nil, runs while the n locks are held (a heap profile).
func runHeld(ctx context.Context, p holder, n, workers int, ttl, probe time.Duration, prefix string, atPeak func()) heldResult {
	r := heldResult{peer: p.name(), n: n}
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		r.errs++
		if r.firstErr == nil {
			r.firstErr = err
		}
	}
	// Warm the connection pools at this concurrency, outside the baseline.
	warm := make([]release, 2*workers)
	parallel(ctx, len(warm), workers, func(i int) {
		if rel, err := p.hold(ctx, fmt.Sprintf("%s/warm/%d", prefix, i), ttl); err == nil {
			warm[i] = rel
		}
	})
	releaseAll(ctx, warm, workers, func(error) {})

	rels := make([]release, n)
	before := measureMem()
	start := time.Now()
	parallel(ctx, n, workers, func(i int) {
		rel, err := p.hold(ctx, fmt.Sprintf("%s/%d", prefix, i), ttl)
		if err != nil {
			fail(err)
			return
		}
		rels[i] = rel
	})
	r.take = time.Since(start)
	time.Sleep(50 * time.Millisecond) // let the acquire rounds' stragglers finish
	after := measureMem()
	r.heapPer = float64(int64(after.heap)-int64(before.heap)) / float64(n)
	r.stackPer = float64(int64(after.stack)-int64(before.stack)) / float64(n)
	r.goroutinesPer = float64(after.goroutines-before.goroutines) / float64(n)
	if atPeak != nil {
		atPeak()
	}

	r.probe = newSamples()
	key := prefix + "/probe"
	for end := time.Now().Add(probe); time.Now().Before(end) && ctx.Err() == nil; {
		t0 := time.Now()
		rel, err := p.acquire(ctx, key)
		if err != nil {
			fail(err)
			continue
		}
		r.probe.add(time.Since(t0))
		if err := rel(ctx); err != nil {
			fail(err)
		}
	}
	r.probe = merge([]samples{r.probe})

	start = time.Now()
	releaseAll(ctx, rels, workers, fail)
	r.drop = time.Since(start)
	time.Sleep(50 * time.Millisecond)
	r.leftOver = measureMem().goroutines - before.goroutines
	return r
}

// parallel calls f(0..n-1) from at most workers goroutines, stopping early
// when ctx ends.
func parallel(ctx context.Context, n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// releaseAll releases every lock taken, workers at a time. It runs even
// when ctx has ended, so an interrupted run leaves no keeper behind.
func releaseAll(ctx context.Context, rels []release, workers int, fail func(error)) {
	detached := context.WithoutCancel(ctx)
	parallel(detached, len(rels), workers, func(i int) {
		if rels[i] == nil {
			return
		}
		if err := rels[i](detached); err != nil {
			fail(err)
		}
		rels[i] = nil
	})
}

func heldTable(title string, results []heldResult) *table {
	t := newTable(title, "peer", "held", "take all", "heap B/lock", "stack B/lock", "goroutines/lock",
		"acquire p50 while held", "acquire p99 while held", "release all", "errors")
	for _, r := range results {
		t.row(r.peer, r.n, fmtDur(r.take), r.heapPer, r.stackPer, fmt.Sprintf("%.2f", r.goroutinesPer),
			fmtDur(r.probe.p50()), fmtDur(r.probe.p99()), fmtDur(r.drop), r.errs)
		if r.firstErr != nil {
			t.note("%d %s: first error: %v", r.n, r.peer, r.firstErr)
		}
		if r.leftOver > 0 {
			t.note("%d %s: %d goroutines more than before after releasing all", r.n, r.peer, r.leftOver)
		}
	}
	return t
}
