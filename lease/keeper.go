package lease

import (
	"context"
	"errors"
	"time"
)

// ErrKeeperRunning: KeepAlive was called on a lease whose keeper runs.
var ErrKeeperRunning = errors.New("lease: keeper already running")

// KeepAlive starts the lease's keeper: a goroutine that calls Extend every
// interval (0 means TTL/3). After a failed extension it retries sooner, and
// when the validity left is less than one node timeout — too little for
// another round — it declares the lease lost: Done closes and the lease's
// contexts are cancelled with cause ErrLost, before the validity deadline
// (invariant I4). Release stops the keeper and waits for it.
//
// The interval must be positive (or 0) and shorter than TTL minus the drift
// allowance and a node timeout, else the lease would expire between two
// extensions. KeepAlive returns ErrKeeperRunning if a keeper runs already,
// ErrReleased or ErrLost if the lease ended.
func (l *Lease) KeepAlive(interval time.Duration) error {
	if interval == 0 {
		interval = l.ttl / 3
	}
	if err := checkKeepAlive(interval, l.ttl, l.client.cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	switch {
	case l.released:
		l.mu.Unlock()
		cancel()
		return ErrReleased
	case l.ended != nil:
		l.mu.Unlock()
		cancel()
		return l.ended
	case l.keeperCancel != nil:
		l.mu.Unlock()
		cancel()
		return ErrKeeperRunning
	}
	l.keeperCancel, l.keeperDone = cancel, done
	l.mu.Unlock()
	go l.keep(ctx, interval, done)
	return nil
}

func checkKeepAlive(interval, ttl time.Duration, cfg config) error {
	if limit := ttl - cfg.drift(ttl) - cfg.nodeTimeout; interval <= 0 || interval >= limit {
		return invalid("keep-alive interval", "%v must be positive and below %v (TTL − drift − node timeout)", interval, limit)
	}
	return nil
}

// keep is the keeper goroutine; it returns when ctx is cancelled (Release)
// or the lease ends.
func (l *Lease) keep(ctx context.Context, interval time.Duration, done chan<- struct{}) {
	defer close(done)
	nodeTimeout := l.client.cfg.nodeTimeout
	timer := time.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.done:
			return
		case <-timer.C:
		}
		deadline := l.ValidUntil()
		if time.Until(deadline) <= nodeTimeout {
			l.markLost()
			return
		}
		ectx, cancel := context.WithDeadline(ctx, deadline)
		err := l.Extend(ectx)
		cancel()
		var next time.Duration
		switch {
		case err == nil:
			next = interval
		case ctx.Err() != nil, errors.Is(err, ErrReleased), errors.Is(err, ErrDetached):
			return
		case errors.Is(err, ErrLost), errors.Is(err, ErrClosed):
			l.markLost()
			return
		default: // no quorum this time: try again while validity lasts
			next = min(interval/4, time.Until(l.ValidUntil())-nodeTimeout)
		}
		timer.Reset(max(next, 0))
	}
}
