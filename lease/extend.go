package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/lease/internal/script"
)

// Extend resets the lease's TTL on the nodes: compare-and-PEXPIRE. Only
// nodes that still hold the lock confirm. When a quorum confirmed, the lock
// is put back (healed), without waiting, on nodes that lost it with their
// data (a restart without persistence: the restart guard's node key is
// gone, or the node is still in its guard window) and whose fence counter
// is below this lease's token, so nobody acquired there since. Healing
// restores copies of a lease that holds a quorum; it never makes one up: a
// lease whose copies fell below a quorum (one node of a bare quorum
// restarted empty, say) can no longer be extended and ends lost. On a node
// that kept its data, a lock released there (by Release, ReleaseOwner,
// ReleaseHolder) or expired there is never put back.
// It succeeds when a quorum confirms before the validity ends (the latest
// deadline, also one a concurrent Extend set meanwhile); ValidUntil then
// moves to the start of this call + TTL − drift, unless it is later
// already. The fencing token does not change.
//
// Errors:
//   - ErrLost: validity had already ended, the confirmations came too late,
//     or a majority of nodes no longer hold the lock for this owner
//     (released elsewhere, expired, taken, or lost with a node's data). The lease is over; Valid
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
	var healable []int // nodes that lost their data and may get the lock back
	answered := make([]bool, n)
	var failed []*NodeError
	extendOp := &op{script: script.Extend, keys: []string{l.keys.Lock, l.keys.Fence, script.NodeKey}, args: []any{l.owner, l.ttl.Milliseconds(), l.token}, decode: decodeInt64}
	err = c.round(ctx, ctx, c.allNodes(), extendOp, func(r reply) bool {
		answered[r.node] = true
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == script.ExtendOK:
			confirmed++
		case r.val == script.ExtendHealable:
			healable = append(healable, r.node)
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		case r.val == script.ExtendRefused:
			refused++
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		default:
			failed = append(failed, c.nodeError(reply{node: r.node, err: errUnexpected(r.val)}))
		}
		return c.decided(confirmed, refused+len(healable), n-confirmed-len(failed))
	})
	// Only a node that holds the lock confirms. A node that lost its data
	// counts as not holding it: healing it must not make up a quorum.
	missing := refused + len(healable)
	if err == nil && confirmed < c.quorum && missing <= n-c.quorum {
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
		// The lease holds a quorum: put its copies back where nodes lost
		// them — those that said so, and those that had not answered when
		// the quorum was reached (heal.lua checks again and changes nothing
		// on a node that holds the lock or kept its data). Not waited for;
		// the next extension counts them.
		for i := range n {
			if !answered[i] {
				healable = append(healable, i)
			}
		}
		if len(healable) > 0 {
			c.sendTo(healable, &op{script: script.Heal, keys: extendOp.keys, args: extendOp.args, decode: decodeInt64})
		}
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
	case missing > n-c.quorum:
		l.lose()
		return fmt.Errorf("%w: %q: %d of %d nodes no longer hold it for this owner (released, expired, taken, or lost with a node's data)", ErrLost, l.resource, missing, n)
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
