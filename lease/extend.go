package lease

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Extend resets the lease's TTL on the nodes: compare-and-PEXPIRE. On a
// node that lost its data (a restart without persistence: its restart
// guard's node key is gone, or it is still in its guard window) the key is
// set again (healed) if the node's fence counter is below this lease's
// token, so nobody acquired there since. On a node that kept its data, a
// lock released there (by Release, ReleaseOwner, ReleaseHolder) or expired
// there is never put back.
// It succeeds when a quorum confirms before the validity ends (the latest
// deadline, also one a concurrent Extend set meanwhile); ValidUntil then
// moves to the start of this call + TTL − drift, unless it is later
// already. The fencing token does not change.
//
// Errors:
//   - ErrLost: validity had already ended, the confirmations came too late,
//     or a majority of nodes no longer hold the lock for this owner
//     (released elsewhere, expired, or taken). The lease is over; Valid
//     reports false from now on, and a release of this owner's value is
//     sent to every node so no healed copy is left behind.
//   - *QuorumError (ErrNotExtended): too few nodes answered in time. The
//     lease is still valid until the unchanged ValidUntil; try again.
//   - ErrReleased: Release was called.
//
// Extend is safe to call concurrently; it never extends a lock that another
// owner holds (invariant I3).
func (l *Lease) Extend(ctx context.Context) (err error) {
	c := l.client
	ctx, span := c.obs.start(ctx, SpanExtend, l.resource)
	confirmed := 0
	defer func() {
		outcome := extendOutcome(err)
		c.obs.extended(ctx, outcome)
		if !span.IsRecording() {
			span.End()
			return
		}
		var qe *QuorumError
		if errors.As(err, &qe) {
			nodeEvents(span, qe.Nodes)
		}
		finish(span, outcome, err, AttrToken.Int64(l.token), AttrConfirmed.Int(confirmed),
			AttrValidity.Int64(time.Until(l.ValidUntil()).Milliseconds()))
	}()

	now := c.cfg.clock.now()
	l.mu.Lock()
	released, ended, validUntil := l.released, l.ended, l.validUntil
	lost := ended == ErrLost
	l.mu.Unlock()
	start := now
	switch {
	case ctx.Err() != nil:
		return errors.Join(ErrNotExtended, ctx.Err())
	case released:
		return ErrReleased
	case lost:
		return fmt.Errorf("%w: %q", ErrLost, l.resource)
	case ended == ErrDetached:
		return ErrDetached
	case !validUntil.after(start):
		l.lose()
		return fmt.Errorf("%w: %q: validity ended %v ago", ErrLost, l.resource, -validUntil.until(start))
	}

	c.inflight.RLock()
	defer c.inflight.RUnlock()
	n := len(c.nodes)
	refused := 0
	var failed []*NodeError
	extendOp := &op{script: extendScript, keys: []string{l.keys.lock, l.keys.fence, nodeKey}, args: []any{l.owner, l.ttl.Milliseconds(), l.token}, decode: decodeInt64}
	err = c.round(ctx, ctx, c.allNodes(), extendOp, func(r reply) bool {
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == int64(1) || r.val == int64(2):
			confirmed++
		case r.val == int64(0):
			refused++
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		default:
			failed = append(failed, c.nodeError(reply{node: r.node, err: errUnexpected(r.val)}))
		}
		return confirmed >= c.quorum || len(failed) > n-c.quorum
	})
	if err == nil && confirmed < c.quorum && refused <= n-c.quorum {
		err = ctx.Err() // the nodes failed because ctx ended
	}
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return errors.Join(ErrNotExtended, err)
	}
	// The deadline that counts is the latest one: a concurrent Extend may
	// have moved it while this one was under way.
	now = c.cfg.clock.now()
	l.mu.Lock()
	validUntil = laterInstant(now, validUntil, l.validUntil)
	l.mu.Unlock()
	switch {
	case confirmed >= c.quorum && validUntil.after(now):
		if !l.extended(start.add(l.ttl - c.cfg.drift(l.ttl))) {
			if cause := l.Err(); cause != ErrLost {
				return cause // released or detached while extending
			}
			return fmt.Errorf("%w: %q: validity ended while extending", ErrLost, l.resource)
		}
		return nil
	case confirmed >= c.quorum:
		l.lose()
		return fmt.Errorf("%w: %q: quorum confirmed %v after validity ended", ErrLost, l.resource, -validUntil.until(now))
	case refused > n-c.quorum:
		l.lose()
		return fmt.Errorf("%w: %q: %d of %d nodes no longer hold it for this owner (released, expired or taken)", ErrLost, l.resource, refused, n)
	}
	return &QuorumError{Op: opExtend, Resource: l.resource, Quorum: c.quorum, Confirmed: confirmed, Nodes: sortNodes(failed)}
}

func extendOutcome(err error) string {
	switch {
	case err == nil:
		return OutcomeExtended
	case errors.Is(err, ErrLost):
		return OutcomeLost
	case errors.Is(err, ErrReleased):
		return OutcomeReleased
	case errors.Is(err, ErrDetached):
		return OutcomeDetached
	case errors.Is(err, ErrClosed):
		return OutcomeClosed
	}
	return OutcomeNotExtended
}
