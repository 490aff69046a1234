package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// measurement is what acquire+release cycles on one approach gave.
type measurement struct {
	cycles    int
	elapsed   time.Duration
	latencies []time.Duration // one per cycle, sorted
}

// rate is cycles per second.
func (m measurement) rate() float64 { return float64(m.cycles) / m.elapsed.Seconds() }

// percentile returns the latency below which a share p of the cycles fell.
func (m measurement) percentile(p float64) time.Duration {
	if len(m.latencies) == 0 {
		return 0
	}
	return m.latencies[min(len(m.latencies)-1, int(p*float64(len(m.latencies))))]
}

// measure runs acquire+release cycles for d on workers goroutines, each on
// a key of its own, so that no cycle waits for another's lock. A cycle that
// is refused or fails stops the measurement with an error: on a healthy
// service none should.
func measure(ctx context.Context, lock locker, workers int, d time.Duration) (measurement, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	per := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("perf/%d", w)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err := cycle(ctx, lock, key); err != nil {
					cancel(err)
					return
				}
				per[w] = append(per[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	m := measurement{elapsed: time.Since(start)}
	if err := context.Cause(ctx); err != nil {
		return m, err
	}
	for _, l := range per {
		m.latencies = append(m.latencies, l...)
	}
	slices.Sort(m.latencies)
	m.cycles = len(m.latencies)
	return m, nil
}

// cycle is one acquire followed by one release.
func cycle(ctx context.Context, lock locker, key string) error {
	h, err := lock.acquire(ctx, key)
	if err != nil {
		return fmt.Errorf("acquire %s: %w", key, err)
	}
	if err := h.release(ctx); err != nil {
		return fmt.Errorf("release %s: %w", key, err)
	}
	return nil
}
