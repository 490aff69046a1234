package lease

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/redlease/redlease/internal/faultseam"
	"github.com/redlease/redlease/lease/internal/script"
)

// Acquire takes the lease on resource: one parallel round to all nodes,
// successful when a quorum of N/2+1 grants the lock and validity remains
// (ttl − elapsed − drift > 0). It returns as soon as the outcome is known,
// without waiting for slow nodes.
//
// On failure it releases the lock on every node that may have granted it
// before it returns (waiting at most one node timeout for those nodes to
// confirm, so that reachable nodes are clean when it returns), and returns
// a *NotAcquiredError (errors.Is(err, ErrNotAcquired)) with
// per-node detail and a RetryAfter hint. When ctx ends first, the error
// satisfies both errors.Is(err, ErrNotAcquired) and errors.Is(err, ctx.Err()).
// Invalid input returns an *InvalidInputError before any node is touched.
//
// A node that lost its data (see WithRestartGuard) grants nothing during
// its restart guard and shows in the per-node detail as ErrNodeGuarded,
// with the time it grants again; RetryAfter accounts for it. A TTL longer
// than the Client's restart guard is refused (ErrTTLAboveGuard).
//
// By default Acquire makes one attempt; WithWait makes it retry with
// backoff and jitter within a budget. The fencing token of the returned
// lease is higher than that of every earlier holder of resource; see
// Lease.Token for the conditions.
func (c *Client) Acquire(ctx context.Context, resource string, opts ...AcquireOption) (l *Lease, err error) {
	start := time.Now()
	ctx, span := c.obs.start(ctx, SpanAcquire, resource)
	var stats acquireStats
	defer func() { c.obs.acquireDone(ctx, span, start, err, stats, l) }()

	ac, err := c.acquireConfig(resource, opts)
	if err != nil {
		return nil, err
	}
	if ac.wait == 0 {
		return c.tryAcquire(ctx, resource, newOwner(ac.holder, ac.epoch), ac, &stats)
	}
	return c.waitAcquire(ctx, resource, ac, &stats)
}

// acquireStats counts what an Acquire call did, for its span.
type acquireStats struct {
	attempts int // rounds tried
	granted  int // nodes that granted the lock in the last attempt
}

func (c *Client) acquireConfig(resource string, opts []AcquireOption) (acquireConfig, error) {
	ac := acquireConfig{ttl: c.cfg.ttl, keepAlive: -1}
	if err := checkResource(resource); err != nil {
		return ac, err
	}
	for _, opt := range opts {
		if opt == nil {
			return ac, invalid("option", "nil AcquireOption")
		}
		if err := opt(&ac); err != nil {
			return ac, err
		}
	}
	if ac.keepAlive >= 0 {
		every := ac.keepAlive
		if every == 0 {
			every = ac.ttl / 3
		}
		if err := checkKeepAlive(every, ac.ttl, c.cfg); err != nil {
			return ac, err
		}
	}
	if (ac.takeover || ac.epoch != "") && ac.holder == "" {
		return ac, invalid("takeover", "WithTakeover and WithEpoch need WithHolder")
	}
	return ac, c.cfg.checkTTL("lease ttl", ac.ttl)
}

// waitAcquire retries tryAcquire while the lock is held by others, until
// the wait budget or ctx runs out (see retryWhileRefused). Every attempt
// has its own owner value: an undo of a failed attempt that reaches a node
// late (after a timed-out batch, on a new connection) can then only delete
// that attempt's lock, never the lock of a later attempt that succeeded.
// A release by this Client may queue an attempt for it (see handoff.go).
func (c *Client) waitAcquire(ctx context.Context, resource string, ac acquireConfig, stats *acquireStats) (*Lease, error) {
	var l *Lease
	err := c.retryWhileRefused(ctx, keysFor(resource), ac.wait, &handoffSpec{ctx: ctx, ac: ac}, func(h *handoff) (err error) {
		if h != nil {
			l, err = c.completeHanded(ctx, h, stats)
			return err
		}
		l, err = c.tryAcquire(ctx, resource, newOwner(ac.holder, ac.epoch), ac, stats)
		return err
	})
	return l, err
}

// retryWhileRefused calls try again while it fails with a *NotAcquiredError
// that is not ErrLost, until wait or ctx runs out. It tries again as soon
// as a release of the resource is announced, else after the backoff delay
// (or the holder's remaining TTL or guard, when shorter). It returns try's
// last error, or one matching ErrNotAcquired and ctx's error.
//
// With a spec, a release by this Client may hand the waiter an attempt it
// queued (see handoff.go): try then receives it and must complete it; try
// receives nil when it is to make its own attempt. A hand-off that arrives
// as the wait ends is abandoned, never left behind. A call that finds
// another waiter of this Client in line that can receive hand-offs waits
// for its turn (a hand-off or a wake-up) or its first backoff delay before
// it tries: within one Client, waiting calls are served in arrival order,
// and a caller that just released does not barge back in.
func (c *Client) retryWhileRefused(ctx context.Context, k keys, wait time.Duration, spec *handoffSpec, try func(*handoff) error) error {
	channel := k.Channel
	e, queued := c.waker.watch(c.nodes, channel, spec)
	defer func() {
		if h := c.waker.leave(channel, e); h != nil {
			c.abandonHanded(h)
		}
	}()
	deadline := time.Now().Add(wait)
	policy := c.cfg.newBackOff()
	policy.Reset()
	var h *handoff
	// In line behind another waiter: wait for a turn first (not for one of
	// several permits, where another may be free).
	turn := queued && spec != nil && spec.limit <= 1
	for {
		delay, remaining := policy.NextBackOff(), time.Until(deadline)
		if !turn || remaining <= 0 || delay == backoff.Stop {
			err := try(h)
			var notAcquired *NotAcquiredError
			if err == nil || !errors.As(err, &notAcquired) || errors.Is(err, ErrLost) {
				return err
			}
			remaining = time.Until(deadline)
			if delay == backoff.Stop || remaining <= 0 {
				return err
			}
			if hint := notAcquired.RetryAfter; hint > 0 && hint < delay {
				delay = hint // the holder's TTL runs out sooner: try then
			}
		}
		turn = false
		delay = min(delay, remaining)
		timer := time.NewTimer(delay)
		c.waker.park(e)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(ErrNotAcquired, ctx.Err()) // leave abandons a hand-off
		case h = <-e.ch:
			timer.Stop()
		case <-timer.C:
			h = c.waker.unpark(e)
		}
	}
}

// tryAcquire is one acquisition: the acquire round, then, when the nodes'
// fence counters diverged, the round that raises them to the token.
func (c *Client) tryAcquire(ctx context.Context, resource, owner string, ac acquireConfig, stats *acquireStats) (l *Lease, err error) {
	if err := ctx.Err(); err != nil {
		return nil, errors.Join(ErrNotAcquired, err)
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	a := c.newAttempt(keysFor(resource), owner, ac)
	p, err := c.post(true, c.all, roundOp{base: ctx, op: a.op})
	return c.finishAcquire(ctx, a, p, err, stats)
}

// acquireAttempt is one acquisition round: its op, when it started, and
// what the nodes answered so far.
type acquireAttempt struct {
	k     keys
	owner string
	ac    acquireConfig
	op    *op
	start instant // before any request of the round was queued

	fences    []int64
	granted   []int
	taken     []bool // answered "held by another": nothing to undo there
	failed    []*NodeError
	contended bool

	// Storage for the op, its keys and arguments, and the per-node
	// answers of up to 5 nodes: one allocation for the attempt.
	opv     op
	keyv    [3]string
	argv    [9]any
	fencev  [5]int64
	takenv  [5]bool
	grantv  [5]int
	failedv [5]*NodeError
}

// newAttempt prepares an acquisition by owner; its start is now, so it
// must be queued after this call.
func (c *Client) newAttempt(k keys, owner string, ac acquireConfig) *acquireAttempt {
	takeover := ""
	if ac.takeover {
		takeover = "1"
	}
	n := len(c.nodes)
	a := &acquireAttempt{k: k, owner: owner, ac: ac}
	if n <= len(a.fencev) {
		a.fences, a.taken, a.granted, a.failed = a.fencev[:n], a.takenv[:n], a.grantv[:0], a.failedv[:0]
	} else {
		a.fences, a.taken = make([]int64, n), make([]bool, n)
	}
	a.keyv = [3]string{k.Lock, k.Fence, script.NodeKey}
	ttl := any(ac.ttl.Milliseconds())
	if ac.ttl == c.cfg.ttl {
		ttl = c.ttlArg // boxed once
	}
	a.argv = [9]any{owner, ttl, holderPrefix(ac.holder), string(ac.epoch), takeover, fenceFloor(faultseam.Now()),
		c.guardArgs[0], c.guardArgs[1], c.guardArgs[2]}
	a.opv = op{script: script.Acquire, keys: a.keyv[:], args: a.argv[:], decode: decodeInt64Slice}
	a.op = &a.opv
	a.start = c.cfg.clock.now()
	return a
}

// decide reads one node's answer to the acquire round.
func (c *Client) decideAcquire(ctx context.Context, a *acquireAttempt) func(reply) bool {
	n := len(c.nodes)
	return func(r reply) bool {
		v, _ := r.val.([]int64)
		switch {
		case r.err != nil:
			a.failed = append(a.failed, c.acquireNodeError(r))
		case len(v) == 2 && v[0] == script.AcquireHeld:
			a.granted = append(a.granted, r.node)
			a.fences[r.node] = v[1]
		case len(v) == 2 && v[0] == script.AcquireGuarded:
			ne := c.nodeError(reply{node: r.node, err: ErrNodeGuarded})
			ne.GuardedUntil = time.Now().Add(time.Duration(v[1]) * time.Millisecond)
			c.obs.guarded(ctx, r.node, time.Duration(v[1])*time.Millisecond)
			a.failed = append(a.failed, ne)
		case len(v) == 2:
			a.contended = true
			a.taken[r.node] = true
			ne := c.nodeError(reply{node: r.node, err: ErrTaken})
			if v[1] > 0 {
				ne.TTL = time.Duration(v[1]) * time.Millisecond
			}
			a.failed = append(a.failed, ne)
		default:
			a.failed = append(a.failed, c.nodeError(reply{node: r.node, err: errUnexpected(r.val)}))
		}
		return len(a.granted) >= c.quorum || len(a.failed) > n-c.quorum
	}
}

// finishAcquire collects the acquire round p of a (postErr: it could not
// be queued) and completes the acquisition: the fence raise, the validity
// check, the lease, or the undo of whatever a failed attempt took. The
// caller holds c.inflight for reading.
func (c *Client) finishAcquire(ctx context.Context, a *acquireAttempt, p []*posted, postErr error, stats *acquireStats) (l *Lease, err error) {
	stats.attempts++
	defer func() { c.obs.attempt(ctx, acquireOutcome(ctx, err), a.contended) }()
	k, owner, ac := a.k, a.owner, a.ac
	err = postErr
	if err == nil {
		err = c.collect(ctx, p[0], c.decideAcquire(ctx, a))
	}
	stats.granted = len(a.granted)
	if err != nil {
		c.undoAcquire(ctx, k, owner, a.taken)
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, errors.Join(ErrNotAcquired, err)
	}
	if len(a.granted) < c.quorum {
		c.undoAcquire(ctx, k, owner, a.taken)
		if err := ctx.Err(); err != nil { // the nodes failed because ctx ended
			return nil, errors.Join(ErrNotAcquired, err)
		}
		return nil, c.notAcquired(k.resource, len(a.granted), a.failed, false)
	}

	token := int64(0)
	for _, i := range a.granted {
		token = max(token, a.fences[i])
	}
	if faultseam.Broken("fence") { // the fault suite's broken build: see internal/faultseam
		token = brokenToken(a.granted, a.fences)
	} else if err := c.raiseFences(ctx, k, owner, token, a.granted, a.fences); err != nil {
		c.undoAcquire(ctx, k, owner, a.taken)
		return nil, err
	}

	validUntil := a.start.add(ac.ttl - c.cfg.drift(ac.ttl))
	if !validUntil.after(c.cfg.clock.now()) {
		c.undoAcquire(ctx, k, owner, a.taken)
		return nil, c.notAcquired(k.resource, len(a.granted), a.failed, true)
	}
	l = newLease(c, k, owner, ac.holder, token, ac.ttl, a.start.mono, validUntil)
	if ac.keepAlive >= 0 {
		if err := l.KeepAlive(ac.keepAlive); err != nil { // checked before the round: not expected
			l.end(ErrReleased)
			c.undoAcquire(ctx, k, owner, a.taken)
			return nil, err
		}
	}
	return l, nil
}

// maxFence is the largest fence counter the scripts keep exact: Redis runs
// Lua with double-precision numbers.
const maxFence = 1<<53 - 1

// fenceFloor is the lowest counter a node may hand out in an acquisition
// started at now: now in microseconds since the Unix epoch. All nodes of one
// round get the same floor, so counters that agreed still agree afterwards,
// and a node that lost its counter (restart without persistence) still
// counts above earlier tokens as long as the clocks of the processes that
// acquire agree to within the time between their acquisitions. A clock
// outside [1970, 2255] gives no floor; the counter then simply grows by one.
func fenceFloor(now time.Time) int64 {
	us := now.UnixMicro()
	if faultseam.Broken("fence") {
		return 0
	}
	if us < 0 || us >= maxFence {
		return 0
	}
	return us
}

// raiseFences makes sure a quorum of nodes carries a fence counter of at
// least token (invariant I2). Nodes whose counter returned token already
// count; the others among granted are raised while the lock is still ours.
// In the steady state counters agree (every node of a round gets the same
// floor, see fenceFloor) and no request is sent.
func (c *Client) raiseFences(ctx context.Context, k keys, owner string, token int64, granted []int, fences []int64) error {
	atToken := 0
	var behind []int
	for _, i := range granted {
		if fences[i] == token {
			atToken++
		} else {
			behind = append(behind, i)
		}
	}
	need := c.quorum - atToken
	if need <= 0 {
		return nil
	}
	raised := 0
	var failed []*NodeError
	raiseOp := &op{script: script.RaiseFence, keys: []string{k.Lock, k.Fence}, args: []any{owner, token}, decode: decodeInt64}
	err := c.round(ctx, ctx, behind, raiseOp, func(r reply) bool {
		switch {
		case r.err != nil:
			failed = append(failed, c.nodeError(r))
		case r.val == script.RaiseFenceOK:
			raised++
		default:
			failed = append(failed, c.nodeError(reply{node: r.node, err: ErrNotHeld}))
		}
		return raised >= need || len(failed) > len(behind)-need
	})
	switch {
	case err != nil && errors.Is(err, ErrClosed):
		return err
	case err != nil:
		return errors.Join(ErrNotAcquired, err)
	case raised < need:
		return &NotAcquiredError{Resource: k.resource, Quorum: c.quorum, Acquired: atToken + raised, Nodes: sortNodes(failed)}
	}
	return nil
}

// undoAcquire deletes our owner value on every node that did not answer
// "held by another". Each node's dispatcher sends it after the acquire
// request, so a straggler cannot re-create the lock after the delete. It
// runs even when ctx has ended, so a cancelled acquisition leaves nothing
// behind on the nodes that answer; it waits at most one node timeout and
// announces nothing (no lock was released, waiters need not wake).
func (c *Client) undoAcquire(ctx context.Context, k keys, owner string, taken []bool) {
	var targets []int
	for i, t := range taken {
		if !t {
			targets = append(targets, i)
		}
	}
	detached := context.WithoutCancel(ctx)
	_ = c.round(detached, detached, targets, releaseOp(k, owner, "", false), func(reply) bool { return false })
}

func (c *Client) notAcquired(resource string, acquired int, failed []*NodeError, validityElapsed bool) *NotAcquiredError {
	e := &NotAcquiredError{
		Resource:        resource,
		Quorum:          c.quorum,
		Acquired:        acquired,
		ValidityElapsed: validityElapsed,
		Nodes:           sortNodes(failed),
	}
	for _, ne := range failed {
		wait := ne.TTL
		if errors.Is(ne.Err, ErrNodeGuarded) {
			wait = max(time.Until(ne.GuardedUntil), time.Millisecond)
		}
		if wait > 0 && (e.RetryAfter == 0 || wait < e.RetryAfter) {
			e.RetryAfter = wait
		}
	}
	return e
}

// acquireNodeError reads the errors the acquire script raises.
func (c *Client) acquireNodeError(r reply) *NodeError {
	switch failure, n := script.Parse(r.err); failure {
	case script.FenceExhausted:
		return c.nodeError(reply{node: r.node, err: ErrFenceExhausted})
	case script.PermitLimit:
		ne := c.nodeError(reply{node: r.node, err: ErrPermitLimit})
		ne.Limit = int(n)
		return ne
	case script.GuardMismatch:
		ne := c.nodeError(reply{node: r.node, err: ErrGuardMismatch})
		ne.Guard = time.Duration(n) * time.Millisecond
		return ne
	}
	return c.nodeError(r)
}

func sortNodes(nodes []*NodeError) []*NodeError {
	sort.Slice(nodes, func(a, b int) bool { return nodes[a].Node < nodes[b].Node })
	return nodes
}

// brokenToken is the token of the fault suite's "fence" break (never in a
// normal build): the lowest counter granted, which goes back as soon as a
// node of the quorum lost its counter.
func brokenToken(granted []int, fences []int64) int64 {
	token := fences[granted[0]]
	for _, i := range granted {
		token = min(token, fences[i])
	}
	return token
}
