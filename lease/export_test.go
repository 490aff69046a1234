package lease

import (
	"sync"
	"time"
)

// SuspendClock is the real clock plus a machine suspend that tests can
// simulate: Suspend moves the suspend-aware clock forward and leaves the
// monotonic clock alone, as a VM pause or a laptop's sleep does.
type SuspendClock struct {
	mu    sync.Mutex
	slept time.Duration
}

func (c *SuspendClock) now() instant {
	i := systemClock{}.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	i.wall += c.slept
	return i
}

// Suspend simulates a suspend of d that has just ended.
func (c *SuspendClock) Suspend(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
}

// WithSuspendClock measures validity on c.
func WithSuspendClock(c *SuspendClock) Option {
	return func(cfg *config) error { cfg.clock = c; return nil }
}

// Handoffs is how many releases of c handed the lock to a waiter.
func (c *Client) Handoffs() int64 { return c.handoffs.Load() }

// Abandoned is how many hand-offs of c a waiter gave up (see abandonHanded).
func (c *Client) Abandoned() int64 { return c.abandoned.Load() }

// Parked is how many Acquire calls of c wait for resource, parked in line.
func (c *Client) Parked(resource string) int {
	c.waker.mu.Lock()
	defer c.waker.mu.Unlock()
	n := 0
	for _, e := range c.waker.waiters[keysFor(resource).Channel] {
		if e.parked {
			n++
		}
	}
	return n
}

// WithHandOffHooks calls chosen when a release has chosen the waiter it
// hands the lock on to, before anything is queued (with the waker's lock
// held), and queued after the waiter's acquisition is queued and handed
// to it, in the releasing goroutine. Either may be nil.
func WithHandOffHooks(chosen, queued func()) Option {
	return func(cfg *config) error { cfg.handOffChosen, cfg.handedOff = chosen, queued; return nil }
}

// DirectSends is how many batches callers of c sent themselves (see post).
func (c *Client) DirectSends() int64 { return c.directSends.Load() }

// ParkedPermits is how many AcquirePermit calls of c wait for a permit of
// resource, parked in line.
func (c *Client) ParkedPermits(resource string) int {
	c.waker.mu.Lock()
	defer c.waker.mu.Unlock()
	n := 0
	for _, e := range c.waker.waiters[permitKeys(resource, 0).Channel] {
		if e.parked {
			n++
		}
	}
	return n
}
