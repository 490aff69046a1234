package lease

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redlease/redlease/lease/internal/script"
	"go.opentelemetry.io/otel/attribute"
)

// MaxPermits is the largest limit AcquirePermit takes.
const MaxPermits = 256

// SpanAcquirePermit is the span of AcquirePermit: the attributes and
// events of SpanAcquire, plus AttrPermitSlot and AttrPermitLimit.
const SpanAcquirePermit = "redlease.permit.acquire"

// Attributes of permit spans.
const (
	AttrPermitSlot  = attribute.Key("redlease.permit.slot")
	AttrPermitLimit = attribute.Key("redlease.permit.limit")
)

// Permit is one of the K permits of a resource (see AcquirePermit). It is a
// Lease on one of the resource's K slots: Token, Valid, Done, Context,
// Extend, KeepAlive and Release work as they do on a Lease. ReleaseOwner
// and ReleaseHolder act on a resource's lease, not on its permits: release
// a permit with its Release.
type Permit struct {
	*Lease
	slot, limit int
}

// Slot is the permit's slot, in [0, Limit).
func (p *Permit) Slot() int { return p.slot }

// Limit is K, the number of permits of the resource.
func (p *Permit) Limit() int { return p.limit }

// AcquirePermit takes one of limit permits of resource: at most limit
// permits of a resource are valid at once, under the assumptions of a
// Lease (see Acquire), with a minority of nodes down, paused or restarted.
//
// Design. The resource has limit slots, and a permit is a lease on one
// slot: a slot is a lock of its own, granted by a quorum of nodes like any
// lease, so two valid permits never share a slot, and limit slots hold at
// most limit permits. (Counting holders per node and asking a majority of
// nodes would not be safe for limit ≥ 2: with 3 nodes and limit 2, permits
// A on nodes {1,2}, B on {2,3} and C on {1,3} leave every node at 2 holders.
// Here A, B and C would need a slot each, and each slot a quorum.) An
// acquisition first asks every node which slots it holds (one read round)
// and then takes a slot that a quorum of the answering nodes reports free,
// starting at a random slot, with an ordinary acquisition round.
//
// Fencing. Each slot has its own fence counter, so the tokens of one slot
// strictly increase as a lease's do (tokens of different slots are not
// ordered). A resource that must fence out a stale permit holder keeps the
// last token it accepted per slot and refuses a (slot, token) whose token
// is below the slot's last one: a stale holder of a slot is refused once
// the slot's next holder has written.
//
// Limit. Callers must agree on the limit of a resource: each node records
// the first limit it is asked for (no TTL) and refuses a grant to a call
// with another limit, never overwriting its record. So a call whose limit
// differs from what a quorum of nodes records is never granted: it returns
// an *InvalidInputError matching ErrPermitLimit when a quorum of nodes
// answered with their record (else a *NotAcquiredError), having changed no
// record (it may record its limit on nodes that had none: nodes that lost
// their data). A minority's differing record (a node that lost its data
// and met a misconfigured caller first) counts as a refusal, and is
// replaced, only if it is still the same, once an acquisition with the
// limit of the quorum succeeded and heard that node's record (rounds stop
// at a quorum, so it can take a few). The record detects a misconfigured
// caller; it does not bound callers that disagree once a majority of nodes
// lost its records (restarts without persistence): they can then hold up
// to the largest limit among them. Invalid limits (≤ 0 or above
// MaxPermits), and WithHolder, WithEpoch and WithTakeover (not supported
// for permits), return an *InvalidInputError before any node is touched.
// WithWait waits for any slot to free up; waiters are woken by releases of
// any permit of the resource, and a release by this Client hands its slot
// to the first waiting AcquirePermit of the same limit, as Lease.Release
// hands a lease on (an ordinary acquisition of that slot, queued behind the
// release). With limit 1, waiting calls of this Client take turns as a
// lease's do; with more, each tries at once.
func (c *Client) AcquirePermit(ctx context.Context, resource string, limit int, opts ...AcquireOption) (p *Permit, err error) {
	start := time.Now()
	ctx, span := c.obs.start(ctx, SpanAcquirePermit, resource)
	var stats acquireStats
	defer func() {
		var l *Lease
		extra := []attribute.KeyValue{AttrPermitLimit.Int(limit)}
		if p != nil {
			l = p.Lease
			extra = append(extra, AttrPermitSlot.Int(p.slot))
		}
		c.obs.acquireDone(ctx, span, start, err, stats, l, extra...)
	}()
	ac, err := c.acquireConfig(resource, opts)
	if err != nil {
		return nil, err
	}
	switch {
	case limit <= 0 || limit > MaxPermits:
		return nil, invalid("limit", "%d permits: want 1 to %d", limit, MaxPermits)
	case ac.holder != "" || ac.takeover || ac.epoch != "":
		return nil, invalid("option", "WithHolder, WithEpoch and WithTakeover do not apply to permits")
	}
	if ac.wait == 0 {
		return c.tryPermit(ctx, resource, limit, ac, &stats)
	}
	// A release of a permit of this Client may hand its slot to a waiter
	// for the same limit (see handoff.go). With one permit, waiters take
	// turns as a lease's do; with more, a caller tries at once, since
	// another may be free.
	spec := &handoffSpec{ctx: ctx, ac: ac, limit: limit}
	err = c.retryWhileRefused(ctx, permitKeys(resource, 0), ac.wait, spec, func(h *handoff) (err error) {
		if h != nil {
			p, err = c.completeHandedPermit(ctx, h, limit, &stats)
			return err
		}
		p, err = c.tryPermit(ctx, resource, limit, ac, &stats)
		return err
	})
	return p, err
}

// tryPermit is one permit acquisition: the read round that finds a free
// slot (unless there is only one), then the acquisition round for it.
func (c *Client) tryPermit(ctx context.Context, resource string, limit int, ac acquireConfig, stats *acquireStats) (*Permit, error) {
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(ErrNotAcquired, err)
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	var survey slotSurvey
	if limit > 1 {
		var err error
		if survey, err = c.freePermitSlot(ctx, resource, limit, ""); err != nil {
			return nil, err
		}
	}
	a := c.newPermitAttempt(permitKeys(resource, survey.slot), limit, ac)
	p, err := c.post(true, c.all, roundOp{base: ctx, op: a.op})
	l, err := c.finishAcquire(ctx, a, p, err, stats)
	return c.permitOutcome(l, err, a, survey)
}

// newPermitAttempt is an acquisition of the permit slot k of a resource
// with limit permits: the acquire script preceded by the limit check.
func (c *Client) newPermitAttempt(k keys, limit int, ac acquireConfig) *acquireAttempt {
	k.permitLimit = limit
	a := c.newAttempt(k, newOwner("", ""), ac)
	a.opv = op{
		script: script.PermitAcquire,
		keys:   []string{k.Lock, k.Fence, script.NodeKey, script.PermitLimitKey(k.resource)},
		args:   append(a.argv[:9:9], strconv.Itoa(limit)),
		decode: decodeInt64Slice,
	}
	return a
}

// permitOutcome turns a finished permit acquisition a into the Permit, or
// its error: a limit that a quorum of nodes refused, or a
// *NotAcquiredError with Held (held slots seen before, plus this one when
// a quorum found it taken) and Limit. A granted permit's nodes that
// refused for a differing limit record have it repaired.
func (c *Client) permitOutcome(l *Lease, err error, a *acquireAttempt, survey slotSurvey) (*Permit, error) {
	k := a.k
	limit := k.permitLimit
	if err != nil {
		return nil, c.permitRefusal(err, k.resource, limit, survey.held)
	}
	c.repairPermitLimit(k.resource, limit, append(survey.mismatched, a.failed...))
	c.obs.permitHeld(context.Background(), limit, 1)
	return &Permit{Lease: l, slot: k.slot, limit: limit}, nil
}

// repairPermitLimit replaces, in the background, the differing limit
// records of the nodes that refused an acquisition that nevertheless
// succeeded with limit: a quorum of nodes records limit, so a differing
// record is a minority's (a node that lost its data and met a
// misconfigured caller first). Each node's record is replaced only if it
// is still the one it refused with.
func (c *Client) repairPermitLimit(resource string, limit int, failed []*NodeError) {
	repaired := map[int]bool{}
	for _, ne := range failed {
		if errors.Is(ne.Err, ErrPermitLimit) && !repaired[ne.Node] {
			repaired[ne.Node] = true
			o := &op{script: script.PermitLimitRepair, keys: []string{script.PermitLimitKey(resource)},
				args: []any{strconv.Itoa(ne.Limit), strconv.Itoa(limit)}, decode: decodeInt64}
			c.sendTo([]int{ne.Node}, o)
		}
	}
}

// completeHandedPermit finishes a permit acquisition a release queued for
// this waiter (see completeHanded).
func (c *Client) completeHandedPermit(ctx context.Context, h *handoff, limit int, stats *acquireStats) (*Permit, error) {
	l, err := c.completeHanded(ctx, h, stats)
	return c.permitOutcome(l, err, h.a, slotSurvey{held: limit - 1})
}

// slotSurvey is what the read round of a permit acquisition found.
type slotSurvey struct {
	slot int // the slot to take
	held int // slots held on a quorum of the nodes that answered
	// mismatched are the nodes that answered with another limit: a
	// minority's records, repaired once the acquisition succeeded.
	mismatched []*NodeError
}

// freePermitSlot asks every node which slots of resource it holds and
// returns a slot free on a quorum of the nodes that answered, searching
// from a random slot. With prefix (a holder prefix, "holder#"), a slot
// the holder holds somewhere comes first, if it is the holder's or free on
// a quorum: a retried start of the holder's permit scope continues the
// slot an earlier attempt took. It waits for every node or the node
// timeout, except that without prefix it stops once a quorum answered and
// some slot is free on all of them. With no such slot it returns a
// *NotAcquiredError whose RetryAfter is the shortest remaining TTL of a
// held slot, with Held and Limit set.
func (c *Client) freePermitSlot(ctx context.Context, resource string, limit int, prefix string) (slotSurvey, error) {
	ks := make([]string, limit+1)
	ks[0] = script.PermitLimitKey(resource)
	for i := range limit {
		ks[i+1] = permitKeys(resource, i).Lock
	}
	free := make([]int, limit) // nodes that report the slot free
	ours := make([]int, limit) // nodes where prefix's holder holds the slot
	shortest := make([]time.Duration, limit)
	answered := 0
	var failed, mismatched []*NodeError
	readOp := &op{script: script.PermitFree, keys: ks, decode: decodeInt64Slice}
	if prefix != "" {
		readOp.args = []any{prefix}
	}
	err := c.round(ctx, ctx, c.all, readOp, func(r reply) bool {
		v, _ := r.val.([]int64)
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
			return false
		case len(v) != limit+1:
			failed = append(failed, c.nodeError(reply{node: r.node, err: errUnexpected(r.val)}))
			return false
		case v[0] != 0 && v[0] != int64(limit):
			ne := c.nodeError(reply{node: r.node, err: ErrPermitLimit})
			ne.Limit = int(v[0])
			mismatched = append(mismatched, ne)
			if len(mismatched) >= c.quorum {
				return true
			}
		}
		answered++
		everywhere := false
		for i, ttl := range v[1:] {
			switch {
			case ttl == -2:
				free[i]++
				everywhere = everywhere || free[i] == answered
			case ttl == -3:
				ours[i]++
			case ttl > 0:
				if d := time.Duration(ttl) * time.Millisecond; shortest[i] == 0 || d < shortest[i] {
					shortest[i] = d
				}
			}
		}
		return prefix == "" && answered >= c.quorum && everywhere
	})
	if le := c.limitMismatch(resource, limit, mismatched); le != nil {
		return slotSurvey{}, le
	}
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return slotSurvey{}, err
		}
		return slotSurvey{}, errors.Join(ErrNotAcquired, err)
	}
	held := 0
	for i := range limit {
		if answered-free[i] >= c.quorum {
			held++
		}
	}
	// The holder's own slot first; then a slot free on every node that
	// answered, else one free on a quorum of them; from a random slot, so
	// concurrent callers spread.
	for i := range limit {
		if ours[i] > 0 && ours[i]+free[i] >= c.quorum {
			return slotSurvey{slot: i, held: held, mismatched: mismatched}, nil
		}
	}
	from := rand.IntN(limit)
	for _, need := range []int{answered, c.quorum} {
		for j := range limit {
			if i := (from + j) % limit; free[i] >= max(need, c.quorum) {
				return slotSurvey{slot: i, held: held, mismatched: mismatched}, nil
			}
		}
	}
	na := &NotAcquiredError{Resource: resource, Quorum: c.quorum, Nodes: sortNodes(failed), Held: held, Limit: limit}
	for _, d := range shortest {
		if d > 0 && (na.RetryAfter == 0 || d < na.RetryAfter) {
			na.RetryAfter = d
		}
	}
	return slotSurvey{}, na
}

// permitRefusal is the error of a permit acquisition (plain or scope)
// that failed: a limit a quorum of nodes refused, or err's
// *NotAcquiredError with Held (held slots seen by the read, plus the slot
// tried when a quorum found it taken since) and Limit set.
func (c *Client) permitRefusal(err error, resource string, limit, held int) error {
	var na *NotAcquiredError
	if !errors.As(err, &na) {
		return err
	}
	if le := c.limitMismatch(resource, limit, na.Nodes); le != nil {
		return le
	}
	na.Held, na.Limit = held, limit
	if c.takenOnQuorum(na.Nodes) {
		na.Held = min(na.Held+1, limit) // the slot was taken since the read (or K = 1: held)
	}
	return err
}

// takenOnQuorum reports whether a quorum of nodes refused because another
// owner holds the lock.
func (c *Client) takenOnQuorum(nodes []*NodeError) bool {
	taken := 0
	for _, ne := range nodes {
		if errors.Is(ne.Err, ErrTaken) {
			taken++
		}
	}
	return taken >= c.quorum
}

// limitMismatch is the error of a call whose limit a quorum of nodes
// refused (they record another one), or nil. A minority's differing record
// does not refuse a call: it is replaced where the call acquires.
func (c *Client) limitMismatch(resource string, limit int, nodes []*NodeError) error {
	var theirs []string
	for _, ne := range nodes {
		if errors.Is(ne.Err, ErrPermitLimit) {
			theirs = append(theirs, fmt.Sprintf("node %d has %d", ne.Node, ne.Limit))
		}
	}
	if len(theirs) < c.quorum {
		return nil
	}
	return &InvalidInputError{Field: "limit", Reason: fmt.Sprintf("%d permits of %q, but %s: every caller must use the same limit", limit, resource, strings.Join(theirs, ", ")), Err: ErrPermitLimit}
}
