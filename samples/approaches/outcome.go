package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// outcome is what one failure scenario showed.
type outcome struct {
	// available: after the failure, a lock (on a fresh key) could still be
	// acquired and released.
	available bool
	// owners is how many clients believed they held the same lock at the
	// same moment, each by its own clock (held.valid).
	owners int
	// ownersAfterTTL is the same count once the first holder's lease ran
	// out, when the scenario waited for that; -1 otherwise.
	ownersAfterTTL int
	// guarded: a Redlock node answered that it is guarded (it lost its
	// data and grants nothing until its restart guard ends).
	guarded bool
	// steps is what happened, in order: the evidence behind the row.
	steps []string
}

// note appends a step to the evidence.
func (o *outcome) note(format string, args ...any) {
	o.steps = append(o.steps, fmt.Sprintf(format, args...))
}

// ownersText is the table's "owners at once" cell.
func (o outcome) ownersText() string {
	if o.ownersAfterTTL >= 0 {
		return fmt.Sprintf("%d, then %d", o.owners, o.ownersAfterTTL)
	}
	return fmt.Sprint(o.owners)
}

// verdict reads the outcome: two owners break mutual exclusion, no
// availability is an outage, anything else is what a lock should do.
func (o outcome) verdict() string {
	switch {
	case o.owners >= 2:
		return "UNSAFE: two owners at once"
	case !o.available:
		return "unavailable: nobody can lock"
	}
	return "safe and available"
}

// owners counts the holders that believe they hold the lock now.
func owners(hs ...held) int {
	n := 0
	for _, h := range hs {
		if h != nil && h.valid() {
			n++
		}
	}
	return n
}

// probe reports whether a lock on a fresh key can be acquired and
// released now: the "still available" column.
func probe(ctx context.Context, lock locker) bool {
	return probeErr(ctx, lock) == nil
}

// probeErr is probe with the reason a lock on a fresh key could not be
// acquired or released.
func probeErr(ctx context.Context, lock locker) error {
	h, err := lock.acquire(ctx, "probe/"+newOwner()[:8])
	if err != nil {
		return err
	}
	return h.release(ctx)
}

// yesNo prints a boolean for the tables.
func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}

// left is the lease time a holder still counts on, for the evidence.
func left(h held) string {
	return time.Until(h.until()).Round(100 * time.Millisecond).String()
}

// printOutcomes writes the table, then each row's evidence.
func printOutcomes(w io.Writer, ss []scenario, outs []outcome) {
	width := len("failure injected")
	for _, s := range ss {
		width = max(width, len(s.failure))
	}
	fmt.Fprintf(w, "%-18s %-*s %-15s %-14s %s\n", "approach", width, "failure injected", "still available", "owners at once", "verdict")
	for i, s := range ss {
		fmt.Fprintf(w, "%-18s %-*s %-15s %-14s %s\n", s.approach, width, s.failure, yesNo(outs[i].available), outs[i].ownersText(), outs[i].verdict())
	}
	for i, s := range ss {
		fmt.Fprintf(w, "\n%s — %s:\n", s.approach, s.failure)
		for _, step := range outs[i].steps {
			fmt.Fprintf(w, "  - %s\n", step)
		}
	}
}

// verify returns an error naming every scenario whose outcome does not
// show what the run claims.
func verify(ss []scenario, outs []outcome) error {
	var bad []string
	for i, s := range ss {
		if !s.shows(outs[i]) {
			bad = append(bad, fmt.Sprintf("%s (%s): want %s; got available %s, owners %s",
				s.approach, s.failure, s.claim, yesNo(outs[i].available), outs[i].ownersText()))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the demonstration did not happen:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}
