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
