package lease

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

// SpanAcquirePermitScope is the span of AcquirePermitScope: the attributes
// of SpanAcquireScope, plus AttrPermitSlot and AttrPermitLimit.
const SpanAcquirePermitScope = "redlease.permit.acquire_scope"

// PermitGrant is the outcome of AcquirePermitScope.
type PermitGrant struct {
	ScopeGrant
	// Slot is the permit's slot, in [0, Limit): pass ScopePermit(Slot) to
	// every later operation of the scope.
	Slot int
	// Limit is K, the number of permits of the resource.
	Limit int
}

// AcquirePermitScope starts a scope (see AcquireScope and ScopeStart) on
// one of limit permits of resource, for the scope owner (from
// NewScopeOwner): a permit scope is a scope lease on one slot of the
// resource's permits, which it holds for its whole life. It shares the
// slots, the limit record and the release channel with AcquirePermit, so
// permits taken either way count against the same limit; the guarantee and
// the design are AcquirePermit's, and each slot is proven continuous as a
// scope is on its resource.
//
// Every later operation of the scope names its slot with
// ScopePermit(grant.Slot): AcquireScope (a fresh token, per slot),
// KeepScope, SaveProgress, LoadProgress, ReleaseScope and EndScope. Tokens
// are per slot, as AcquirePermit's: a resource fences per slot.
//
// A start that finds a slot that the owner's holder holds on some node
// (an earlier attempt of the start, or an earlier scope of the holder)
// takes that slot if it can, so a retried start continues what an earlier
// one took. A start that took a slot and whose result was lost (the
// process died) is not found by a start of another holder: its slot stays
// held until its TTL runs out, or until ReleaseScope on it. ReleaseScope
// with ScopePermit on every slot ends a scope whose slot is unknown.
//
// Of opts, ScopeTTL, ScopeWait (wait for any slot to free up) and
// ScopeAttempt count; ScopeStart is implied; ScopePermit and ScopeFirst
// are refused. Errors: as AcquireScope's, and an *InvalidInputError
// matching ErrPermitLimit when a quorum of nodes records another limit;
// a *NotAcquiredError has Held and Limit set.
func (c *Client) AcquirePermitScope(ctx context.Context, resource string, limit int, owner string, opts ...ScopeOption) (g PermitGrant, err error) {
	start := time.Now()
	ctx, span := c.obs.start(ctx, SpanAcquirePermitScope, resource)
	defer func() {
		outcome := scopeOutcome(ctx, err, OutcomeAcquired, OutcomeNotAcquired)
		c.obs.acquired(ctx, start, outcome)
		attrs := []attribute.KeyValue{AttrPermitLimit.Int(limit)}
		if err == nil {
			attrs = append(attrs, AttrToken.Int64(g.Token), AttrPermitSlot.Int(g.Slot))
		}
		c.obs.scopeDone(ctx, span, outcome, err, attrs...)
	}()
	if limit <= 0 || limit > MaxPermits {
		return g, invalid("limit", "%d permits: want 1 to %d", limit, MaxPermits)
	}
	sc, err := scopeOptions(0, opts)
	if err != nil {
		return g, err
	}
	if sc.slot > 0 || sc.first {
		return g, invalid("option", "ScopePermit, ScopeFirst and ScopeStart do not apply: AcquirePermitScope starts the scope and picks its slot")
	}
	s, sc, err := c.newScopeCall(resource, owner, c.cfg.ttl, opts)
	if err != nil {
		return g, err
	}
	s.limit = limit
	try := func(*handoff) (err error) {
		g, err = c.tryPermitScope(ctx, s)
		return err
	}
	if sc.wait == 0 {
		return g, try(nil)
	}
	return g, c.retryWhileRefused(ctx, permitKeys(resource, 0), sc.wait, nil, try)
}

// tryPermitScope is one start of a permit scope: the read round (which
// prefers the holder's own slot), then the scope's start round on the
// slot, which checks and records the limit.
func (c *Client) tryPermitScope(ctx context.Context, s scopeCall) (PermitGrant, error) {
	if err := ctx.Err(); err != nil {
		return PermitGrant{}, errors.Join(ErrNotAcquired, err)
	}
	resource, limit := s.at.resource, s.limit
	c.inflight.RLock()
	survey, err := c.freePermitSlot(ctx, resource, limit, holderPrefix(s.holder))
	c.inflight.RUnlock()
	if err != nil {
		return PermitGrant{}, err
	}
	s.at = place{resource: resource, slot: survey.slot}
	g, err := s.acquire(ctx, true, true)
	if err != nil {
		return PermitGrant{}, c.permitRefusal(err, resource, limit, survey.held)
	}
	c.repairPermitLimit(resource, limit, survey.mismatched)
	return PermitGrant{ScopeGrant: g, Slot: survey.slot, Limit: limit}, nil
}
