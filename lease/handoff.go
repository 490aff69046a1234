package lease

import "context"

// A release that hands the lock on.
//
// When Lease.Release runs while an Acquire of the same Client waits for
// the resource (WithWait), the release carries that waiter's next attempt:
// on every node the release and the waiter's acquisition are queued one
// after the other, so they usually go out in one pipeline, and the waiter
// holds the lock one round trip after the holder let go, instead of a
// round trip plus a Pub/Sub wake-up plus another round trip. It is an
// ordinary acquisition in every respect that matters for safety: the same
// script, its own owner value, its start (and so its validity) taken
// before any of its requests was queued, its own fence floor; the waiter
// completes it as it completes its own attempts (quorum, fence raise,
// validity, undo on failure). Nodes run the acquisition after the release
// only because the dispatcher keeps a node's requests in order; were the
// order lost (see dispatcher), the acquisition would find the lock held
// and fail, never take it from its holder.
//
// Order: the first waiter in line that is waiting (not in the middle of
// its own attempt) receives the hand-off; a scope waiter first in line
// gets no hand-off (the release's announcement wakes it, as usual).
//
// A release that hands the lock on announces nothing: the lock is not
// free. Waiters of other processes then try at their backoff steps and
// find it held; to keep them from starving, a resource is handed on at most
// maxHandoffChain times between two announced releases of this Client
// (however often its line empties meanwhile), then one release announces
// and lets every waiter compete. A waiter whose handed attempt fails
// (nodes failed) tries again at its backoff step; one that gave up wakes
// the next waiter of this Client; waiters of other processes learn of a
// lock left free at their next backoff step.
// maxHandoffChain bounds the hand-offs of one resource by one Client
// between two of its announced releases.
const maxHandoffChain = 16

// handoffSpec is what a waiting Acquire lets a release do on its behalf.
type handoffSpec struct {
	ctx context.Context // the waiting call's: no hand-off once it is done
	ac  acquireConfig
	// limit is K for a permit waiter (AcquirePermit), 0 for a lease's: a
	// permit's release hands its slot only to a waiter for the same limit.
	limit int
}

// handoff is an acquisition queued by a release for a waiter. Its
// requests go out even if the waiter's context ends meanwhile; whoever
// receives it must finish it (completeHanded: with the context ended, it
// fails and undoes) or abandon it (abandonHanded): the releaser took
// c.inflight for reading on its behalf, so Close waits for either.
type handoff struct {
	a *acquireAttempt
	p []*posted
}

// handOffRelease queues the release o of k together with an acquisition
// for the first waiter of k in line, when there is one that can take it,
// and returns the release's posted round; ok is false when nothing was
// queued (the caller then runs the release alone).
func (c *Client) handOffRelease(ctx context.Context, k keys, o *op) (p []*posted, ok bool) {
	c.waker.mu.Lock()
	defer c.waker.mu.Unlock()
	w := &c.waker
	e := w.handOffTarget(k.Channel)
	if e == nil || e.spec.ctx.Err() != nil || e.spec.limit != k.permitLimit {
		return nil, false
	}
	if c.cfg.handOffChosen != nil {
		c.cfg.handOffChosen()
	}
	if !c.inflight.TryRLock() { // Close is waiting: no new attempt
		return nil, false
	}
	o.args[2] = "" // handed on, not free: nothing to announce
	var a *acquireAttempt
	if k.permitLimit > 0 {
		// The released slot, for a waiter of the same limit.
		a = c.newPermitAttempt(k, k.permitLimit, e.spec.ac)
	} else {
		a = c.newAttempt(k, newOwner(e.spec.ac.holder, e.spec.ac.epoch), e.spec.ac)
	}
	ps, err := c.post(false, c.all, roundOp{base: context.WithoutCancel(ctx), op: o}, roundOp{base: context.WithoutCancel(e.spec.ctx), op: a.op})
	if err != nil {
		c.inflight.RUnlock()
		o.args[2] = k.Channel
		return nil, false
	}
	w.chain[k.Channel]++
	c.handoffs.Add(1)
	c.obs.handedOff(ctx)
	e.parked = false
	e.ch <- &handoff{a: a, p: ps[1:]} // parked: ch was empty
	return ps[:1], true
}

// handOffTarget returns the waiter a release of channel may hand the lock
// to, or nil; w.mu is held. It counts the chain: after maxHandoffChain
// hand-offs in a row it returns nil once.
func (w *waker) handOffTarget(channel string) *waitEntry {
	if w.closed {
		return nil
	}
	for _, e := range w.waiters[channel] {
		if e.spec != nil && !e.parked {
			continue // busy with its own attempt: the next one in line
		}
		if e.spec == nil || !e.parked {
			return nil // a scope waiter: the announcement wakes it
		}
		if w.chain[channel] >= maxHandoffChain {
			w.chain[channel] = 0
			return nil
		}
		return e
	}
	return nil
}

// completeHanded finishes the acquisition a release queued for this
// waiter. When it fails, the waiter tries again at its next backoff step;
// when it fails because the waiter's ctx ended, the waiter leaves the line
// and passes a wake-up on to the next one (the release announced nothing).
func (c *Client) completeHanded(ctx context.Context, h *handoff, stats *acquireStats) (*Lease, error) {
	defer c.inflight.RUnlock() // taken by the releaser for this attempt
	l, err := c.finishAcquire(ctx, h.a, h.p, nil, stats)
	if err != nil && ctx.Err() != nil {
		c.waker.notify(h.a.k.Channel) // to this waiter, first in line: leave passes it on
	}
	return l, err
}

// abandonHanded gives up an acquisition queued for a waiter that stopped
// waiting: its release is queued behind it on every node and announced,
// waiting at most one node timeout for the nodes to confirm (as the undo
// of a failed attempt does), and the next waiter in line is woken.
func (c *Client) abandonHanded(h *handoff) {
	c.abandoned.Add(1)
	detached := context.Background()
	_ = c.round(detached, detached, c.all, releaseOp(h.a.k, h.a.owner, "", true), func(reply) bool { return false })
	c.inflight.RUnlock() // taken by the releaser for this attempt
	c.waker.notify(h.a.k.Channel)
}
