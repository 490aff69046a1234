package main

import (
	"fmt"
	"slices"
	"time"
)

// samples is a set of per-operation durations. Each worker fills its own
// and the scenario merges them, so recording needs no lock.
type samples []time.Duration

func newSamples() samples { return make(samples, 0, 1<<12) }

func (s *samples) add(d time.Duration) { *s = append(*s, d) }

// merge concatenates per-worker samples into one sorted set.
func merge(parts []samples) samples {
	var out samples
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.Sort(out)
	return out
}

// pct is the nearest-rank percentile p (0 < p ≤ 100) of sorted samples, or
// 0 when there are none.
func (s samples) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func (s samples) p50() time.Duration { return s.pct(50) }
func (s samples) p99() time.Duration { return s.pct(99) }

// fmtDur prints a latency with three significant digits or so.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// rate is events per second over elapsed.
func rate(events int, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return float64(events) / elapsed.Seconds()
}
