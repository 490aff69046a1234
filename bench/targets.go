package main

import (
	"fmt"
	"io"
)

// printTargets prints the measured ratios against redlease's targets.
func (b *bench) printTargets(w io.Writer) {
	t := newTable("Targets (ratios measured in this run)", "target", "redlease", "reference", "ratio", "goal", "result")
	if len(b.parallel) >= 2 {
		rl, rs := b.parallel[0], b.parallel[1]
		ratio := rl.perSecond() / rs.perSecond()
		t.row(fmt.Sprintf("throughput, %d goroutines, distinct keys", b.o.goroutines),
			fmt.Sprintf("%.0f cycles/s", rl.perSecond()), fmt.Sprintf("redsync %.0f cycles/s", rs.perSecond()),
			fmt.Sprintf("%.2f×", ratio), "≥ 1.5×", verdict(ratio >= 1.5))
	} else {
		t.row("throughput, distinct keys", "-", "-", "-", "≥ 1.5×", "not run")
	}
	if len(b.single) >= 3 {
		rl, fl := b.single[0].cycle.p50(), b.single[2].cycle.p50()
		ratio := float64(rl) / float64(fl)
		t.row("single-goroutine acquire+release p50",
			fmtDur(rl), "floor "+fmtDur(fl), fmt.Sprintf("%.2f×", ratio), "≤ 1.3× floor", verdict(ratio <= 1.3))
	} else {
		t.row("single-goroutine acquire+release p50", "-", "-", "-", "≤ 1.3× floor", "not run")
	}
	if len(b.contended) >= 2 && b.contended[0].handoff.p50() > 0 {
		rl, rs := b.contended[0].handoff.p50(), b.contended[1].handoff.p50()
		ratio := float64(rs) / float64(rl)
		t.row("contended handoff p50", fmtDur(rl), "redsync "+fmtDur(rs),
			fmt.Sprintf("%.1f× lower", ratio), "≥ 10× lower", verdict(ratio >= 10))
	} else {
		t.row("contended handoff p50", "-", "-", "-", "≥ 10× lower", "not run")
	}
	t.print(w)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
