package lease

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrKeeperRunning: KeepAlive was called on a lease whose keeper runs.
var ErrKeeperRunning = errors.New("lease: keeper already running")

// keeper extends a lease on a timer. Between extensions it holds no
// goroutine: the timer's callback runs one extension and re-arms.
type keeper struct {
	interval time.Duration
	ctx      context.Context // cancelled by stop: aborts an extension in flight
	cancel   context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	halted  bool
	running sync.WaitGroup // the extension in flight, if any
}

// KeepAlive starts the lease's keeper, which calls Extend every interval
// (0 means TTL/3), and never later than when 1.25 node timeouts of
// validity are left — also for its first extension, however late
// KeepAlive is called. After a failed extension it retries sooner, and
// when less than one node timeout of validity is left — too little for
// another round — it declares the lease lost: Done closes and the lease's
// contexts are cancelled with cause ErrLost, at least a quarter of a node
// timeout before the validity deadline (invariant I4). Release and Detach
// stop the keeper and wait for an extension in flight. An idle keeper is a
// timer, not a goroutine.
//
// The interval must be positive (or 0) and shorter than TTL minus the drift
// allowance and two node timeouts: an extension may take up to one node
// timeout, and the next one must start with more than one node timeout of
// validity left. KeepAlive returns ErrKeeperRunning if a keeper runs
// already, ErrReleased or the lease's end cause if it ended.
func (l *Lease) KeepAlive(interval time.Duration) error {
	if interval == 0 {
		interval = l.ttl / 3
	}
	if err := checkKeepAlive(interval, l.ttl, l.client.cfg); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.released:
		return ErrReleased
	case l.ended != nil:
		return l.ended
	case l.keeper != nil:
		return ErrKeeperRunning
	}
	k := &keeper{interval: interval}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	// The first extension too comes before less than 1.25 node timeouts of
	// validity are left, however late KeepAlive is called.
	first := max(min(interval, l.validUntil.until(l.client.cfg.clock.now())-l.client.cfg.nodeTimeout*5/4), 0)
	k.mu.Lock()
	k.timer = time.AfterFunc(first, func() { l.keepTick(k) })
	k.mu.Unlock()
	l.keeper = k
	return nil
}

func checkKeepAlive(interval, ttl time.Duration, cfg config) error {
	if limit := ttl - cfg.drift(ttl) - 2*cfg.nodeTimeout; interval <= 0 || interval >= limit {
		return invalid("keep-alive interval", "%v must be positive and below %v (TTL − drift − 2 × node timeout)", interval, limit)
	}
	return nil
}

// keepTick is the timer callback: one extension, then re-arm.
func (l *Lease) keepTick(k *keeper) {
	k.mu.Lock()
	if k.halted {
		k.mu.Unlock()
		return
	}
	k.running.Add(1)
	k.mu.Unlock()
	defer k.running.Done()

	next, again := l.keepOnce(k)
	if !again {
		return
	}
	k.mu.Lock()
	if !k.halted {
		k.timer.Reset(max(next, 0))
	}
	k.mu.Unlock()
}

// keepOnce extends the lease once and says when to try next, or that the
// keeper is done (the lease ended or is declared lost).
func (l *Lease) keepOnce(k *keeper) (next time.Duration, again bool) {
	nodeTimeout := l.client.cfg.nodeTimeout
	left := l.validityLeft()
	if left <= nodeTimeout {
		l.markLost()
		return 0, false
	}
	ctx, cancel := context.WithTimeout(k.ctx, left)
	err := l.Extend(ctx)
	cancel()
	switch {
	case err == nil:
		// Wake with more than a node timeout of validity left, whatever
		// the extension cost: a quarter of a node timeout to spare.
		return min(k.interval, l.validityLeft()-nodeTimeout*5/4), true
	case k.ctx.Err() != nil, errors.Is(err, ErrReleased), errors.Is(err, ErrDetached):
		return 0, false
	case errors.Is(err, ErrLost), errors.Is(err, ErrClosed):
		l.markLost()
		return 0, false
	}
	// No quorum this time: try again while validity lasts, but not back to
	// back when nodes fail fast near the end (at most about 2 more tries).
	return max(min(k.interval/4, l.validityLeft()-nodeTimeout*5/4), nodeTimeout/8), true
}

// halt stops the timer without waiting; safe from the keeper's own callback.
func (k *keeper) halt() {
	k.mu.Lock()
	k.halted = true
	k.timer.Stop()
	k.mu.Unlock()
}

// stopKeeper halts the keeper, aborts its extension in flight, and waits
// for it. It must not run inside the keeper's callback.
func (l *Lease) stopKeeper() {
	l.mu.Lock()
	k := l.keeper
	l.keeper = nil
	l.mu.Unlock()
	if k == nil {
		return
	}
	k.halt()
	k.cancel()
	k.running.Wait()
}

// validityLeft is the time left before the validity deadline, on the
// clocks that validity is measured on.
func (l *Lease) validityLeft() time.Duration {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil.until(now)
}
