package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// handoffResult is the outcome of goroutines contending for one key.
type handoffResult struct {
	peer         string
	acquisitions int // critical sections entered during the measurement
	errs         int
	firstErr     error
	elapsed      time.Duration
	handoff      samples // release start → next holder's acquire returns
	sitOutMisses int     // times a releaser stopped sitting out without a new holder
	requests     int64   // commands sent to the nodes during the measurement
	cpu          cpuUse  // CPU used during the measurement
}

// baton is the state the holders of the contended key pass along. Its
// fields are written by the goroutine that holds the lock.
type baton struct {
	mu           sync.Mutex
	releaseStart time.Time     // when the last holder began its release
	holder       int           // worker that holds or last held the lock
	next         chan struct{} // closed when the next holder acquires
	handoff      samples
}

// acquired records a new holder and returns the channel closed at the
// following acquisition.
func (b *baton) acquired(worker int, now time.Time) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.releaseStart.IsZero() && b.holder != worker {
		b.handoff.add(now.Sub(b.releaseStart))
	}
	b.holder = worker
	close(b.next)
	b.next = make(chan struct{})
	return b.next
}

func (b *baton) releasing() {
	b.mu.Lock()
	b.releaseStart = time.Now()
	b.mu.Unlock()
}

// runContended has workers goroutines loop on one key for dur: wait for the
// lock (acquireWait), hold it for cs, release it, then sit out until another
// worker has taken it (at most sitOut), so that every measured hand-off goes
// from one goroutine to a different, waiting one rather than to the
// releaser re-acquiring at once.
// A discarded run of warmup on another key comes first (scripts, pools,
// Pub/Sub subscriptions).
func runContended(ctx context.Context, p waiter, m *meter, workers int, warmup, dur, cs, sitOut time.Duration, key string) handoffResult {
	_ = contend(ctx, p, workers, warmup, cs, sitOut, key+"/warmup")
	m0 := m.sample(ctx)
	r := contend(ctx, p, workers, dur, cs, sitOut, key)
	r.requests, r.cpu = m.since(ctx, m0)
	return r
}

// add merges another slice of the same peer's measurement into r.
func (r *handoffResult) add(o handoffResult) {
	r.peer = o.peer
	r.acquisitions += o.acquisitions
	r.errs += o.errs
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	r.elapsed += o.elapsed
	r.handoff = merge([]samples{r.handoff, o.handoff})
	r.sitOutMisses += o.sitOutMisses
	r.requests += o.requests
	r.cpu.client += o.cpu.client
	r.cpu.server += o.cpu.server
}

func contend(ctx context.Context, p waiter, workers int, dur, cs, sitOut time.Duration, key string) handoffResult {
	mctx, cancel := context.WithTimeout(ctx, dur)
	defer cancel()
	b := &baton{next: make(chan struct{}), handoff: newSamples()}
	type part struct {
		acquisitions, errs, misses int
		firstErr                   error
	}
	parts := make([]part, workers)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			setPeerLabel(ctx, p.name())
			pt := &parts[w]
			for mctx.Err() == nil {
				rel, err := p.acquireWait(mctx, key)
				if err != nil {
					if mctx.Err() == nil {
						pt.errs++
						pt.firstErr = err
					}
					continue
				}
				next := b.acquired(w, time.Now())
				if mctx.Err() == nil {
					pt.acquisitions++
				}
				if cs > 0 {
					time.Sleep(cs)
				}
				b.releasing()
				if err := rel(context.WithoutCancel(ctx)); err != nil {
					pt.errs++
					pt.firstErr = err
				}
				timer := time.NewTimer(sitOut)
				select {
				case <-next:
				case <-mctx.Done():
				case <-timer.C:
					pt.misses++
				}
				timer.Stop()
			}
		})
	}
	wg.Wait()
	r := handoffResult{peer: p.name(), elapsed: min(time.Since(start), dur)}
	for _, pt := range parts {
		r.acquisitions += pt.acquisitions
		r.errs += pt.errs
		r.sitOutMisses += pt.misses
		if r.firstErr == nil {
			r.firstErr = pt.firstErr
		}
	}
	r.handoff = merge([]samples{b.handoff})
	return r
}

func contendedTable(title string, results []handoffResult) *table {
	t := newTable(title, "peer", "critical sections", "CS/s", "handoffs", "handoff p50", "handoff p99", "handoff max", "requests/CS", "client CPU/CS", "server CPU/CS", "errors")
	for _, r := range results {
		if r.peer == "" {
			continue // not measured (interrupted)
		}
		client, server := r.cpu.perOp(r.acquisitions)
		t.row(r.peer, r.acquisitions, rate(r.acquisitions, r.elapsed), len(r.handoff),
			fmtDur(r.handoff.p50()), fmtDur(r.handoff.p99()), fmtDur(r.handoff.pct(100)), perEvent(r.requests, r.acquisitions), client, server, r.errs)
		if r.firstErr != nil {
			t.note("%s: first error: %v", r.peer, r.firstErr)
		}
		if r.sitOutMisses > 0 {
			t.note("%s: %d times no other goroutine took the lock within the sit-out limit", r.peer, r.sitOutMisses)
		}
	}
	return t
}

func perEvent(n int64, events int) string {
	if events == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/float64(events))
}
