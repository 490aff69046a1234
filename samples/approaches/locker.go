package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// locker is what each approach offers, so that all three are measured and
// broken the same way: take a lock on key, or fail.
type locker interface {
	// acquire takes the lock on key. It returns errHeld when another owner
	// holds it, and another error when the lock service could not answer.
	acquire(ctx context.Context, key string) (held, error)
}

// held is an acquired lock, as its owner sees it.
type held interface {
	// release gives the lock up (compare-and-delete: never another owner's).
	release(ctx context.Context) error
	// valid reports whether the owner still believes it holds the lock: by
	// its own clock, the lease time it was granted has not run out. It
	// cannot know whether the lock service still agrees.
	valid() bool
	// until is when the lease time the owner was granted runs out.
	until() time.Time
}

// errHeld: the lock service answered, and another owner holds the lock.
var errHeld = errors.New("held by another owner")

// newOwner returns a random owner value, unique per acquisition.
func newOwner() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// validity is what an owner may count on after an acquisition that started
// at start: the TTL minus a 1% + 2 ms allowance for clock drift, the same
// formula package lease uses, so all approaches are judged alike.
func validity(start time.Time, ttl time.Duration) time.Time {
	return start.Add(ttl - ttl/100 - 2*time.Millisecond)
}
