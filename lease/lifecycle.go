package lease

import (
	"context"
	"time"
)

// watchdogPoll bounds the watchdog's sleep: a timer runs on the monotonic
// clock, which stops during a suspend, so after a resume the watchdog
// notices a passed deadline within this much.
const watchdogPoll = time.Second

func newLease(c *Client, k keys, owner, holder string, token int64, ttl time.Duration, acquiredAt time.Time, validUntil instant) *Lease {
	l := &Lease{
		acquiredAt: acquiredAt,
		client:     c,
		keys:       k,
		resource:   k.resource,
		owner:      owner,
		holder:     holder,
		token:      token,
		ttl:        ttl,
		validUntil: validUntil,
		done:       make(chan struct{}),
	}
	l.mu.Lock() // the watchdog may fire before the assignment completes
	l.watchdog = time.AfterFunc(min(validUntil.until(c.cfg.clock.now()), watchdogPoll), l.checkExpired)
	l.mu.Unlock()
	return l
}

// Done is closed when the lease ends: lost (its validity passed without a
// successful extension, or an extension found it held by another) or
// released. Err says why. A lease nobody extends is closed by a timer at its
// validity deadline (plus the timer's scheduling delay, which the drift
// allowance in the validity covers); the keeper closes it a node timeout
// before the deadline. While the machine is suspended nothing runs; after
// a resume past the deadline, Done closes within a second (watchdogPoll),
// or at once when Valid, Extend or the keeper looks first.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err is nil while the lease lives, then ErrLost, ErrReleased or
// ErrDetached: whichever happened first.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ended
}

// Context returns a copy of parent that is cancelled when the lease ends,
// with context.Cause reporting ErrLost or ErrReleased; run the work that
// needs the lease under it. Call the CancelFunc when the work is done (its
// cause is then context.Canceled). A lease that already ended returns a
// context that is already cancelled.
func (l *Lease) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	l.mu.Lock()
	if l.ended != nil {
		cause := l.ended
		l.mu.Unlock()
		cancel(cause)
		return ctx, func() { cancel(context.Canceled) }
	}
	if l.cancels == nil {
		l.cancels = make(map[uint64]context.CancelCauseFunc)
	}
	id := l.nextCancel
	l.nextCancel++
	l.cancels[id] = cancel
	l.mu.Unlock()
	return ctx, func() {
		l.mu.Lock()
		delete(l.cancels, id)
		l.mu.Unlock()
		cancel(context.Canceled)
	}
}

// end records why the lease ended, once: it closes Done, stops the
// watchdog and cancels the lease's contexts with cause.
func (l *Lease) end(cause error) {
	l.mu.Lock()
	if l.ended != nil {
		l.mu.Unlock()
		return
	}
	l.ended = cause
	l.watchdog.Stop()
	if l.keeper != nil {
		l.keeper.halt() // may run inside the keeper's callback: no waiting here
	}
	cancels := l.cancels
	l.cancels = nil
	l.mu.Unlock()
	// Metrics first, so whoever wakes on Done or a context sees them recorded.
	l.client.obs.ended(time.Since(l.acquiredAt), cause)
	if l.keys.permitLimit > 0 {
		l.client.obs.permitHeld(context.Background(), l.keys.permitLimit, -1)
	}
	for _, cancel := range cancels {
		cancel(cause)
	}
	close(l.done)
}

func (l *Lease) markLost() { l.end(ErrLost) }

// lose ends the lease as lost after an extension found it no longer held by
// a quorum, and sends a release of its owner value to every node without
// waiting, so that no copy it healed or refreshed is left blocking them.
func (l *Lease) lose() {
	l.markLost()
	l.client.send(releaseOp(l.keys, l.owner, "", true))
}

// Detach stops tracking the lease in this process without releasing it:
// the keeper stops, Done closes and Err reports ErrDetached (unless the
// lease ended before). The lock stays on the nodes until its TTL runs out,
// so that another process can take it over (WithHolder and WithTakeover)
// or release it (Client.ReleaseOwner, Client.ReleaseHolder). After Detach
// the lease can no longer be extended; Release still works.
func (l *Lease) Detach() {
	l.stopKeeper()
	l.end(ErrDetached)
}

// checkExpired runs when the watchdog fires: the lease is lost unless an
// extension moved its deadline in the meantime.
func (l *Lease) checkExpired() {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	remaining := l.validUntil.until(now)
	if remaining > 0 && l.ended == nil {
		l.watchdog.Reset(min(remaining, watchdogPoll))
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.markLost()
}

// extended moves the validity deadline to validUntil after a successful
// extension. It reports false when the lease ended meanwhile.
func (l *Lease) extended(validUntil instant) bool {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended != nil {
		return false
	}
	if validUntil.until(now) > l.validUntil.until(now) {
		l.validUntil = validUntil
		l.watchdog.Reset(min(validUntil.until(now), watchdogPoll))
	}
	return true
}
