package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redlease/redlease/lease"
)

// errText is an acquisition's outcome in words, for the evidence lines. A
// Redlock refusal is summed up per kind of node answer; nodes guarded by
// the restart guard are named, with when they grant again.
func errText(err error) string {
	var na *lease.NotAcquiredError
	switch {
	case err == nil:
		return "acquired"
	case errors.As(err, &na):
		taken, guarded := 0, guardedNodes(err)
		for _, n := range na.Nodes {
			if errors.Is(n.Err, lease.ErrTaken) {
				taken++
			}
		}
		g := ""
		if len(guarded) > 0 {
			g = fmt.Sprintf(", %d \"guarded after losing its data\"%s", len(guarded), guardText(guarded))
		}
		return fmt.Sprintf("refused: %s granted, %d needed; %d answered \"held by another owner\"%s, %d unreachable",
			plural(na.Acquired, "node"), na.Quorum, taken, g, len(na.Nodes)-taken-len(guarded))
	case errors.Is(err, errHeld):
		return "refused: held by another owner"
	}
	return "failed: " + err.Error()
}

// guardedNodes returns the per-node answers of a Redlock refusal that
// were lease.ErrNodeGuarded: nodes that lost their data and grant nothing
// until their restart guard ends.
func guardedNodes(err error) []*lease.NodeError {
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		return nil
	}
	var guarded []*lease.NodeError
	for _, n := range na.Nodes {
		if errors.Is(n.Err, lease.ErrNodeGuarded) {
			guarded = append(guarded, n)
		}
	}
	return guarded
}

// guardText names guarded nodes and when the last of them grants again:
// " (node 0, grants again in 1m0.6s)".
func guardText(guarded []*lease.NodeError) string {
	if len(guarded) == 0 {
		return ""
	}
	var last time.Time
	idx := make([]int, len(guarded))
	for i, n := range guarded {
		idx[i] = n.Node
		if n.GuardedUntil.After(last) {
			last = n.GuardedUntil
		}
	}
	slices.Sort(idx)
	verb := "grants"
	if len(guarded) > 1 {
		verb = "grant"
	}
	return fmt.Sprintf(" (%s, %s again in %v)", nodeList(idx), verb, time.Until(last).Round(100*time.Millisecond))
}

// nodeList prints node indexes: "node 0", "nodes 0, 3, 4".
func nodeList(idx []int) string {
	switch len(idx) {
	case 0:
		return "no node"
	case 1:
		return fmt.Sprintf("node %d", idx[0])
	}
	s := make([]string, len(idx))
	for i, n := range idx {
		s[i] = fmt.Sprint(n)
	}
	return "nodes " + strings.Join(s, ", ")
}

// plural prints n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
