package main

import (
	"errors"
	"fmt"

	"github.com/redlease/redlease/lease"
)

// errText is an acquisition's outcome in words, for the evidence lines. A
// Redlock refusal is summed up per kind of node answer.
func errText(err error) string {
	var na *lease.NotAcquiredError
	switch {
	case err == nil:
		return "acquired"
	case errors.As(err, &na):
		taken := 0
		for _, n := range na.Nodes {
			if errors.Is(n.Err, lease.ErrTaken) {
				taken++
			}
		}
		return fmt.Sprintf("refused: %s granted, %d needed; %d answered \"held by another owner\", %d unreachable",
			plural(na.Acquired, "node"), na.Quorum, taken, len(na.Nodes)-taken)
	case errors.Is(err, errHeld):
		return "refused: held by another owner"
	}
	return "failed: " + err.Error()
}

// plural prints n things.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
