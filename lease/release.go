package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redlease/redlease/lease/internal/script"
	"go.opentelemetry.io/otel/attribute"
)

const (
	opExtend       = "extend"
	opRelease      = "release"
	opKeepScope    = "keep scope"
	opSaveProgress = "save progress"
)

// Release deletes the lease on every node where this owner still holds it
// (compare-and-delete: never another owner's lock, invariant I3), advances
// the fence counter there (see ReleaseOwner), and wakes waiters. It is idempotent: releasing twice, or after expiry, is not an
// error. It returns once a quorum of nodes has confirmed (at most one node
// timeout); the other nodes' requests are already queued behind this
// lease's earlier requests and complete in the background, also when ctx ends.
// A ctx that has already ended stops only the waiting: the release is sent
// all the same (so a deferred Release after a cancellation leaves nothing
// behind), and the error satisfies errors.Is(err, ctx.Err()).
//
// When Acquire calls of the same Client wait for the resource (WithWait),
// the release hands the lock on to the first of them that is waiting: its
// acquisition is queued right behind the release on every node, and the
// release is not announced (the lock is not free); waiters of other
// processes try at their backoff steps, and after 16 hand-offs in a row a
// release is announced and not handed on, so they get their chance. The
// handed acquisition is an ordinary one (quorum, fencing token, validity)
// that the waiter completes; see Acquire.
//
// It returns a *QuorumError (ErrNotReleased) when fewer than a quorum of
// nodes answered; what is left behind expires by its TTL. After Release the
// lease is no longer Valid and cannot be extended, whatever the outcome: its
// keeper has stopped, Done is closed and its contexts are cancelled with
// cause ErrReleased (unless it was lost first).
func (l *Lease) Release(ctx context.Context) error {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	l.released = true
	held := l.ended == nil && l.validUntil.after(now) // only a lock still ours is handed on
	l.mu.Unlock()
	l.stopKeeper()
	l.end(ErrReleased)
	return l.client.runRelease(ctx, l.keys, releaseOp(l.keys, l.owner, "", true), l.token, held)
}

// ReleaseOwner deletes resource's lock on every node where its owner value
// is owner, as Lease.Release does, for a caller that kept only the owner
// value (for example across processes). Idempotent.
//
// Every release leaves its mark in the fence counter: it advances the
// counter where it deleted the lock and, when owner is a scope's
// (NewScopeOwner), also where the scope's lock had expired but its record
// could put it back. A lease's keeper, which heals only nodes that lost
// their data, then cannot put the lock back, and once the release reached
// a quorum the scope's keeps, continuing acquisitions (also ScopeFirst) and
// progress saves fail: with ErrLost once one hears from more than N −
// quorum of the nodes the release reached, for want of nodes before. ScopeStart, for an acquisition no work
// of the scope can have preceded, may take the free resource again: only
// ReleaseScope ends a scope for good.
func (c *Client) ReleaseOwner(ctx context.Context, resource, owner string) error {
	if err := checkResource(resource); err != nil {
		return err
	}
	switch {
	case owner == "":
		return invalid("owner", "empty")
	case strings.HasSuffix(owner, "#"):
		return invalid("owner", "%q is a release tombstone, not an owner value (see ReleaseHolder)", owner)
	}
	o := releaseOp(keysFor(resource), owner, "", true)
	if holder, _, err := parseScopeOwner(owner); err == nil {
		record, _ := script.ScopeKeys(resource, holder)
		o = withRecord(o, record)
	}
	return c.runRelease(ctx, keysFor(resource), o, 0, false)
}

// ReleaseHolder releases resource's lock on every node where any attempt of
// holder holds it (see WithHolder), and wakes waiters. It never touches the
// lock of another holder. Idempotent. It marks the release as ReleaseOwner
// does, for the holder's scope (up to the epoch, when one is given).
//
// With an epoch, it leaves a tombstone instead of deleting: for tombstoneTTL
// (0: the Client's TTL; at most the restart guard, else ErrTTLAboveGuard)
// the lock stays refused to attempts of this holder from that epoch or
// earlier — an attempt delivered late, after the holder has moved on,
// cannot run again — while other holders see it as free. A tombstone of an
// earlier epoch is replaced (keeping the longer TTL); locks and tombstones
// of this holder from later epochs are left alone.
func (c *Client) ReleaseHolder(ctx context.Context, resource, holder string, epoch Epoch, tombstoneTTL time.Duration) error {
	o, err := c.holderReleaseOp(leasePlace(resource), holder, epoch, tombstoneTTL)
	if err != nil {
		return err
	}
	return c.runRelease(ctx, keysFor(resource), o, 0, false)
}

// holderReleaseOp checks ReleaseHolder's arguments and builds its op for
// the lock at (a resource's lease or one of its permit slots).
func (c *Client) holderReleaseOp(at place, holder string, epoch Epoch, tombstoneTTL time.Duration) (*op, error) {
	if err := checkResource(at.resource); err != nil {
		return nil, err
	}
	var ac acquireConfig
	if err := WithHolder(holder)(&ac); err != nil {
		return nil, err
	}
	if err := WithEpoch(epoch)(&ac); err != nil {
		return nil, err
	}
	if tombstoneTTL < 0 {
		return nil, invalid("tombstone ttl", "%v is negative", tombstoneTTL)
	}
	if tombstoneTTL == 0 {
		tombstoneTTL = c.cfg.ttl
	}
	if tombstoneTTL > c.cfg.guard {
		// A node that lost its data forgets the tombstone; it must not
		// outlive the restart guard that keeps such a node from granting.
		return nil, &InvalidInputError{Field: "tombstone ttl", Reason: fmt.Sprintf("%v is longer than the restart guard (%v)", tombstoneTTL, c.cfg.guard), Err: ErrTTLAboveGuard}
	}
	record, _ := at.scopeKeys(holder)
	o := withRecord(releaseOp(at.keys(), "", holderPrefix(holder), true), record)
	if epoch != "" {
		o.args[4], o.args[5], o.args[6] = tombstone(holder, epoch), tombstoneTTL.Milliseconds(), string(epoch)
	}
	return o, nil
}

// runRelease runs a release round; token is recorded on the span when
// known. With handOff, the release may carry the attempt of this Client's
// first waiter for the resource (see handoff.go).
func (c *Client) runRelease(ctx context.Context, k keys, o *op, token int64, handOff bool) (err error) {
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	ctx, span := c.obs.start(ctx, SpanRelease, k.resource)
	confirmed := 0
	defer func() {
		outcome := OutcomeReleased
		switch {
		case errors.Is(err, ErrClosed):
			outcome = OutcomeClosed
		case err != nil:
			outcome = OutcomeNotReleased
		}
		if !span.IsRecording() {
			span.End()
			return
		}
		var qe *QuorumError
		if errors.As(err, &qe) {
			nodeEvents(span, qe.Nodes)
		}
		attrs := []attribute.KeyValue{AttrConfirmed.Int(confirmed)}
		if token > 0 {
			attrs = append(attrs, AttrToken.Int64(token))
		}
		finish(span, outcome, err, attrs...)
	}()
	var failed []*NodeError
	n := len(c.nodes)
	p, handed := []*posted(nil), false
	if handOff {
		p, handed = c.handOffRelease(ctx, k, o)
		if handed && c.cfg.handedOff != nil {
			c.cfg.handedOff()
		}
	}
	if !handed {
		if o.args[2] != "" {
			c.waker.announced(k.Channel)
		}
		p, err = c.post(true, c.all, roundOp{base: context.WithoutCancel(ctx), op: o})
	}
	if err == nil {
		err = c.collect(ctx, p[0], func(r reply) bool {
			if r.err != nil {
				failed = append(failed, c.nodeError(r))
			} else {
				confirmed++
			}
			return confirmed >= c.quorum || len(failed) > n-c.quorum
		})
	}
	switch {
	case errors.Is(err, ErrClosed):
		return err
	case err != nil:
		return errors.Join(ErrNotReleased, err)
	case confirmed < c.quorum:
		return &QuorumError{Op: opRelease, Resource: k.resource, Quorum: c.quorum, Confirmed: confirmed, Nodes: sortNodes(failed)}
	}
	return nil
}

// releaseOp deletes the lock held by owner (or by any owner value with
// prefix) and advances the fence counter where it did; announce publishes
// the release to waiters. withRecord adds a scope record (see release.lua)
// to mark where the released scope could put its lock back.
func releaseOp(k keys, owner, prefix string, announce bool) *op {
	channel := ""
	if announce {
		channel = k.Channel
	}
	r := &struct { // one allocation for the op, its keys and arguments
		op   op
		keys [3]string
		args [7]any
	}{keys: [3]string{k.Lock, k.Fence}, args: [7]any{owner, prefix, channel, k.resource, "", 0, ""}}
	r.op = op{script: script.Release, keys: r.keys[:2], args: r.args[:], decode: decodeInt64, final: true}
	return &r.op
}

// withRecord adds the released scope's record to a release op, so that the
// release also marks the nodes where that scope's lock had expired.
func withRecord(o *op, record string) *op {
	o.keys = append(o.keys, record)
	return o
}
