package main

import (
	"fmt"
	"io"
	"time"

	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
)

// turn is one run of consecutive writes with one token: who held the
// resource, when, and which steps it wrote.
type turn struct {
	holder     string
	token      int64
	from, to   time.Time
	first, end int // steps first..end
	writes     int
}

func turns(entries []fencedstore.Entry) []turn {
	var ts []turn
	for _, e := range entries {
		if n := len(ts); n > 0 && ts[n-1].token == e.Token {
			ts[n-1].to, ts[n-1].end = e.At, e.Step
			ts[n-1].writes++
			continue
		}
		ts = append(ts, turn{holder: e.Holder, token: e.Token, from: e.At, to: e.At, first: e.Step, end: e.Step, writes: 1})
	}
	return ts
}

// printSummary prints who held the resource when, with which token, and
// what the crash did.
func printSummary(out io.Writer, start time.Time, entries []fencedstore.Entry, c crash, results map[string]exclusivejob.StepsResult) {
	fmt.Fprintf(out, "\nWho held %q, from the fenced store's log (%d writes, every one checked):\n\n", resource, len(entries))
	fmt.Fprintf(out, "  %-8s  %-7s  %16s  %-11s  %s\n", "from", "to", "token", "steps", "holder")
	for _, t := range turns(entries) {
		note := ""
		if t.holder == c.workflow && t.token > c.token {
			note = fmt.Sprintf("   ← took over after %s was killed", c.worker)
		}
		if t.holder == c.workflow && t.token == c.token {
			note = fmt.Sprintf("   ← %s killed here", c.worker)
		}
		fmt.Fprintf(out, "  %7.2fs  %6.2fs  %16d  %4d – %-4d  %s%s\n",
			t.from.Sub(start).Seconds(), t.to.Sub(start).Seconds(), t.token, t.first, t.end, t.holder, note)
	}
	fmt.Fprintf(out, "\nThe crash: %s was killed (SIGKILL) while %s was at step %d with token %d.\n", c.worker, c.workflow, c.atStep, c.token)
	if r, ok := results[c.workflow]; ok {
		fmt.Fprintf(out, "Temporal retried the activity (attempt %d) on the other worker; it took the lease over\n"+
			"with token %d > %d\n"+
			"and resumed at step %d, after the last step its predecessor saved (at most one step is done twice).\n"+
			"Writes with token %d would now be refused by the store: the dead attempt is fenced out.\n",
			r.Attempt, r.Token, c.token, r.ResumedAt, c.token)
	}
	fmt.Fprintf(out, "No two holders ever overlapped; tokens only grew; every lease was released.\n")
	ts := turns(entries)
	for i := 1; i < len(ts); i++ {
		if ts[i].from.Sub(ts[i-1].to) > 3*time.Second {
			fmt.Fprintf(out, "(The %.1fs pause before %s: work that was on the killed worker waits for Temporal's\n"+
				"timeouts — the activity's heartbeat timeout (2 s), the sticky queue's schedule-to-start\n"+
				"timeout (1 s in the worker binary) — before another worker picks it up.)\n",
				ts[i].from.Sub(ts[i-1].to).Seconds(), ts[i].holder)
			break
		}
	}
}
