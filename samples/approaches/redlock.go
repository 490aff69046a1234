package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/lease"
)

// redlock is approach 2: package lease, Redlock over independent nodes.
type redlock struct{ c *lease.Client }

func (r redlock) acquire(ctx context.Context, key string) (held, error) {
	l, err := r.c.Acquire(ctx, key)
	var na *lease.NotAcquiredError
	switch {
	case errors.As(err, &na) && heldElsewhere(na):
		return nil, fmt.Errorf("%w: %w", errHeld, err)
	case err != nil:
		return nil, err
	}
	return redlockHeld{l}, nil
}

// heldElsewhere reports whether a refusal came from nodes that answered
// "held by another owner", rather than from nodes that did not answer.
func heldElsewhere(na *lease.NotAcquiredError) bool {
	for _, n := range na.Nodes {
		if errors.Is(n.Err, lease.ErrTaken) {
			return true
		}
	}
	return false
}

// redlockHeld is an acquired *lease.Lease.
type redlockHeld struct{ l *lease.Lease }

func (h redlockHeld) release(ctx context.Context) error { return h.l.Release(ctx) }
func (h redlockHeld) valid() bool                       { return h.l.Valid() }
func (h redlockHeld) until() time.Time                  { return h.l.ValidUntil() }
