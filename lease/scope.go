package lease

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redlease/redlease/internal/faultseam"
	"github.com/redlease/redlease/lease/internal/script"
	"go.opentelemetry.io/otel/attribute"
)

// A scope lease holds a resource for a whole scope of work — a Temporal
// workflow's WithLease, say — under one owner value that any process may
// act for: one process acquires it, others extend it (KeepScope) or start
// work under it with a fresh fencing token each (AcquireScope), and
// ReleaseScope ends it. What the plain lease cannot offer across processes
// and gaps, a scope proves on the nodes: every node keeps a record of the
// scope (its owner value and the fence counter it last set), and since
// every token handed out advances the counter, a counter that still equals
// the record's proves that nobody else was granted the lock there since —
// even if the scope's lock expired meanwhile, in which case it is put back.
// Another owner's lock or tombstone, a moved counter or a release proves
// the opposite: the scope lost that node (ErrScopeLost). Every release
// (Lease.Release, ReleaseOwner, ReleaseHolder, ForceRelease, ReleaseScope,
// EndScope) moves the counter where it removed the scope's lock and where
// the scope's expired lock could be put back, so no keep undoes it. A scope that lost
// more nodes than N − quorum can never again hold a quorum: its operations
// then fail with ErrLost, which is final. Nothing else is: down, slow or
// guarded nodes, and a minority of refusals, are retried by the caller.
//
// What holds: while a scope's operations succeed, no other owner held the
// resource since the scope's first acquisition (given the lease package's
// invariants and the records on a quorum of nodes). What does not: the
// records, unlike locks, outlive the restart guard (WithScopeMemory), so
// a node that lost its data loses them; a scope that needs such a node to
// make a quorum ends ErrLost (never resumes silently) unless the scope may
// start anew (ScopeFirst), where a majority of nodes losing their data
// lets a new acquisition through.

// DefaultScopeMemory is how long a node remembers a scope after the last
// operation that touched it (WithScopeMemory).
const DefaultScopeMemory = 24 * time.Hour

// WithScopeMemory sets how long a node keeps a scope's record and saved
// progress after the scope last touched it (acquired, kept, saved or
// released). A scope whose lock expired is still proven continuous while
// its records live; once they are gone a scope acquisition without
// ScopeFirst fails with ErrLost, and one with ScopeFirst starts anew.
// Default: DefaultScopeMemory (24 h).
func WithScopeMemory(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("scope memory", "%v is not positive", d)
		}
		c.scopeMemory = d
		return nil
	}
}

// NewScopeOwner returns a new owner value for a scope of holder starting
// at epoch: holder#epoch#nonce, 128 random bits in the nonce. Epochs order
// the scopes of one holder: a scope never takes the lock from a later one,
// and ReleaseScope at an epoch ends every scope started at or before it.
func NewScopeOwner(holder string, epoch Epoch) (string, error) {
	var ac acquireConfig
	if err := WithHolder(holder)(&ac); err != nil {
		return "", err
	}
	if err := WithEpoch(epoch)(&ac); err != nil {
		return "", err
	}
	return newOwner(holder, epoch), nil
}

// parseScopeOwner splits a scope owner value into its holder and epoch.
func parseScopeOwner(owner string) (holder string, epoch Epoch, err error) {
	parts := strings.Split(owner, "#")
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" || len(parts[0]) > MaxHolderLen {
		return "", "", invalid("scope owner", "%q is not holder#epoch#nonce (see NewScopeOwner)", owner)
	}
	return parts[0], Epoch(parts[1]), nil
}

// ScopeOption configures AcquireScope.
type ScopeOption func(*scopeConfig) error

type scopeConfig struct {
	ttl     time.Duration
	wait    time.Duration
	first   bool
	start   bool
	attempt Epoch
	slot    int // ScopePermit's slot + 1; 0: the resource's lease
}

// ScopeTTL sets the lock's time to live. Default: the Client's TTL.
func ScopeTTL(ttl time.Duration) ScopeOption {
	return func(c *scopeConfig) error { c.ttl = ttl; return nil }
}

// ScopeWait lets AcquireScope wait up to d while another holder holds the
// lock, woken by releases as Acquire's WithWait. Default: one attempt.
func ScopeWait(d time.Duration) ScopeOption {
	return func(c *scopeConfig) error {
		if d < 0 {
			return invalid("wait", "%v is negative", d)
		}
		c.wait = d
		return nil
	}
}

// ScopeFirst lets AcquireScope take the lock on nodes where the scope never
// held it: the scope's first acquisition, or one that may be. Without it,
// AcquireScope only continues a scope that holds a quorum (or is proven
// continuous there). Default: off.
func ScopeFirst() ScopeOption {
	return func(c *scopeConfig) error { c.first = true; return nil }
}

// ScopeStart is ScopeFirst for an acquisition that no work of the scope
// can have preceded (for Temporal: AcquireLease, whose result the workflow
// has not seen): it takes the lock wherever the scope does not hold it and
// no other owner does, whatever the nodes remember of the scope, except a
// release (ErrScopeEnded). Default: off.
func ScopeStart() ScopeOption {
	return func(c *scopeConfig) error { c.first, c.start = true, true; return nil }
}

// ScopeAttempt orders the attempts that act for one scope (for Temporal:
// the activity's scheduled time, then its attempt number): once an attempt
// took a token on a node, an earlier one (delivered late, to a worker that
// was frozen, say) is refused there with ErrSuperseded, which is final.
// Attempts that may run at the same time must have distinct epochs: two
// with the same one racing for the nodes can get the same token.
// Default: the empty epoch, the earliest — so once any attempt of a scope
// used an epoch, acquisitions without one are refused.
func ScopeAttempt(epoch Epoch) ScopeOption {
	return func(c *scopeConfig) error {
		if strings.ContainsAny(string(epoch), "#|") {
			return invalid("attempt epoch", "%q contains '#' or '|'", epoch)
		}
		c.attempt = epoch
		return nil
	}
}

// ScopeGrant is the outcome of a scope acquisition.
type ScopeGrant struct {
	// Token is a fencing token higher than every token handed out for the
	// resource before, this scope's earlier acquisitions included.
	Token      int64
	validUntil instant
	clock      clock
}

// Remaining is how long the lock is certainly still held, at least, from
// the grant alone (TTL minus the round's time and the drift allowance), on
// both the monotonic and the wall clock; zero or less once it has passed.
func (g ScopeGrant) Remaining() time.Duration { return g.validUntil.until(g.clock.now()) }

// ScopeKept is the outcome of KeepScope.
type ScopeKept struct {
	// Fence is the highest fence counter among the nodes that kept the
	// scope: above a section's token, it says a newer attempt took a token.
	Fence      int64
	validUntil instant
	clock      clock
}

// Remaining is as ScopeGrant.Remaining, from this keep.
func (k ScopeKept) Remaining() time.Duration { return k.validUntil.until(k.clock.now()) }

// AcquireScope takes resource's lock for the scope owner (from
// NewScopeOwner) with a fresh fencing token: over the scope's own lock
// where it holds it (so an earlier attempt acting for the scope is fenced
// out), where its record proves nobody else was granted the lock since,
// and — with ScopeFirst only — where the scope never held it. It waits
// with ScopeWait while another holder holds the lock.
//
// Errors: a *NotAcquiredError (ErrNotAcquired) when no quorum granted —
// retryable unless it also matches ErrLost, which says the scope lost more
// than N − quorum nodes for good (another holder held the resource since;
// or it was released: ErrScopeEnded too), or that a later attempt took a
// token (ErrSuperseded too, see ScopeAttempt); an *InvalidInputError for
// bad input.
func (c *Client) AcquireScope(ctx context.Context, resource, owner string, opts ...ScopeOption) (g ScopeGrant, err error) {
	start := time.Now()
	ctx, span := c.obs.start(ctx, SpanAcquireScope, resource)
	defer func() {
		outcome := scopeOutcome(ctx, err, OutcomeAcquired, OutcomeNotAcquired)
		c.obs.acquired(ctx, start, outcome)
		var attrs []attribute.KeyValue
		if err == nil {
			attrs = append(attrs, AttrToken.Int64(g.Token))
		}
		c.obs.scopeDone(ctx, span, outcome, err, attrs...)
	}()
	return c.acquireScope(ctx, resource, owner, opts)
}

func (c *Client) acquireScope(ctx context.Context, resource, owner string, opts []ScopeOption) (ScopeGrant, error) {
	s, sc, err := c.newScopeCall(resource, owner, c.cfg.ttl, opts)
	if err != nil {
		return ScopeGrant{}, err
	}
	var grant ScopeGrant
	try := func() (err error) {
		grant, err = s.acquire(ctx, sc.first, sc.start)
		return err
	}
	if sc.wait == 0 {
		return grant, try()
	}
	return grant, c.retryWhileRefused(ctx, keysFor(resource), sc.wait, nil, func(*handoff) error { return try() })
}

// newScopeCall checks a scope operation's arguments — resource, owner
// value, options, and the TTL (ttl, unless ScopeTTL sets it) — before any
// node is touched.
func (c *Client) newScopeCall(resource, owner string, ttl time.Duration, opts []ScopeOption) (scopeCall, scopeConfig, error) {
	if err := checkResource(resource); err != nil {
		return scopeCall{}, scopeConfig{}, err
	}
	holder, epoch, err := parseScopeOwner(owner)
	if err != nil {
		return scopeCall{}, scopeConfig{}, err
	}
	sc, err := scopeOptions(ttl, opts)
	if err != nil {
		return scopeCall{}, sc, err
	}
	if sc.slot > 0 && sc.first {
		return scopeCall{}, sc, invalid("option", "ScopeFirst and ScopeStart do not apply to a permit's slot: AcquirePermitScope starts a permit scope")
	}
	if err := c.cfg.checkTTL("lease ttl", sc.ttl); err != nil {
		return scopeCall{}, sc, err
	}
	return scopeCall{c: c, at: sc.place(resource), owner: owner, holder: holder, epoch: epoch, ttl: sc.ttl, attempt: sc.attempt}, sc, nil
}

// KeepScope extends the scope's lock on every node where the scope still
// holds it (putting it back where its record proves nobody was granted the
// lock since), without a new token. started says the caller knows the
// scope was acquired; without it, nodes with no record of the scope may
// simply not have seen its first acquisition yet.
//
// Errors: ErrScopeEnded when more than N − quorum nodes say the scope was
// released (ReleaseScope, EndScope): its keeper can stop; ErrLost when the scope lost more
// than N − quorum nodes (with started, nodes without a record count as
// lost; without it, only nodes that prove the loss do, since a failed
// acquisition can leave a record behind); ErrScopeNotStarted when
// !started and no node holds the scope and the loss is not proven; else a
// *QuorumError (ErrNotExtended) when fewer than a quorum kept it
// (retryable). With started, the verdict is on the nodes that answered
// before the outcome was decided (a quorum kept it, the loss is proven, or
// no answer still to come could change either); without it, on every node
// that answered within the node timeout. A caller that does not know the scope
// started therefore misses a loss proven on N − quorum nodes or fewer
// with the rest holding no record: it keeps getting retryable errors, and
// the scope's next acquisition (which knows it started) reports the loss. Of opts
// only ScopeAttempt counts: a section that names its attempt gets
// ErrSuperseded (also ErrLost) once a later attempt took a token; a keeper
// that acts for every attempt names none.
func (c *Client) KeepScope(ctx context.Context, resource, owner string, ttl time.Duration, started bool, opts ...ScopeOption) (k ScopeKept, err error) {
	ctx, span := c.obs.start(ctx, SpanKeepScope, resource)
	defer func() {
		outcome := scopeOutcome(ctx, err, OutcomeExtended, OutcomeNotExtended)
		c.obs.extended(ctx, outcome)
		c.obs.scopeDone(ctx, span, outcome, err)
	}()
	return c.keepScope(ctx, resource, owner, ttl, started, opts)
}

func (c *Client) keepScope(ctx context.Context, resource, owner string, ttl time.Duration, started bool, opts []ScopeOption) (ScopeKept, error) {
	// ttl goes last: a ScopeTTL among opts does not override it.
	s, _, err := c.newScopeCall(resource, owner, ttl, append(opts[:len(opts):len(opts)], ScopeTTL(ttl)))
	if err != nil {
		return ScopeKept{}, err
	}
	return s.keep(ctx, started)
}

// ReleaseScope ends holder's scopes on resource started at epoch or
// earlier: their lock is released as ReleaseHolder does (a tombstone for
// tombstoneTTL; 0: the Client's TTL), their records say so for the
// Client's scope memory (so no attempt delivered late takes the lock
// again, even after the tombstone expired), and their saved progress is
// deleted. Like every release it advances the fence counter (see
// ReleaseOwner). A later scope of the holder is left alone. Idempotent. Of
// opts only ScopePermit counts: it releases a permit scope's slot.
func (c *Client) ReleaseScope(ctx context.Context, resource, holder string, epoch Epoch, tombstoneTTL time.Duration, opts ...ScopeOption) error {
	return c.releaseScope(ctx, resource, holder, epoch, tombstoneTTL, "", opts)
}

// releaseScope is ReleaseScope, or EndScope when owner is set.
func (c *Client) releaseScope(ctx context.Context, resource, holder string, epoch Epoch, tombstoneTTL time.Duration, owner string, opts []ScopeOption) error {
	sc, err := scopeOptions(0, opts)
	if err != nil {
		return err
	}
	at := sc.place(resource)
	o, err := c.holderReleaseOp(at, holder, epoch, tombstoneTTL)
	if err != nil {
		return err
	}
	if epoch == "" {
		return invalid("epoch", "ReleaseScope needs the release's epoch")
	}
	_, progress := at.scopeKeys(holder)
	o.script = script.ScopeRelease
	o.keys = append(o.keys, progress) // after the lock, fence and record keys
	conditional := ""
	if owner != "" {
		conditional = "1"
	}
	o.args = append(o.args, c.cfg.scopeMemory.Milliseconds(), conditional, owner)
	return c.runRelease(ctx, at.keys(), o, 0, false)
}

// EndScope ends the scope as its attempt attempt (see ScopeAttempt), the
// scope's last: as ReleaseScope at that epoch, except that a node where a
// later attempt of the scope took a token, or where another owner's lock
// sits, is left alone — a stale attempt that finishes late does not end
// the scope under a newer attempt that still runs. Idempotent. Of opts
// only ScopePermit counts: it ends a permit scope on its slot.
func (c *Client) EndScope(ctx context.Context, resource, owner string, attempt Epoch, tombstoneTTL time.Duration, opts ...ScopeOption) error {
	holder, _, err := parseScopeOwner(owner)
	if err != nil {
		return err
	}
	if err := ScopeAttempt(attempt)(&scopeConfig{}); err != nil {
		return err
	}
	return c.releaseScope(ctx, resource, holder, attempt, tombstoneTTL, owner, opts)
}

// scopeCall is one operation of one scope.
type scopeCall struct {
	c             *Client
	at            place
	owner, holder string
	epoch         Epoch
	attempt       Epoch
	ttl           time.Duration
	// limit is set when the call starts a permit scope: the start round
	// checks and records the resource's permit limit (see permit_limit.lua).
	limit int
}

// scopeTally sorts the nodes' answers to a scope round.
type scopeTally struct {
	held   []int   // nodes where the scope holds the lock now
	fences []int64 // by node: the counter each held node returned
	fresh  []int   // held nodes where this round took a lock the scope never held
	// ignoreRecords: a start (ScopeStart) counts fresh grants whatever the
	// nodes remember of the scope.
	ignoreRecords bool
	lost          int // ErrScopeLost and ErrScopeEnded answers
	released      int // ErrScopeEnded answers
	unknown       int // ErrNoScopeRecord answers
	superseded    int // ErrSuperseded answers
	failed        []*NodeError
}

func (s scopeCall) op(what string, arg int64) *op {
	k := s.at.keys()
	record, progress := s.at.scopeKeys(s.holder)
	g := s.c.guardArgs
	o := &op{
		script: script.Scope,
		keys:   []string{k.Lock, k.Fence, script.NodeKey, record, progress},
		args: []any{s.owner, s.ttl.Milliseconds(), holderPrefix(s.holder), string(s.epoch), what, arg,
			g[0], g[1], g[2], s.c.cfg.scopeMemory.Milliseconds(), string(s.attempt)},
		decode: decodeInt64Slice,
	}
	if s.limit > 0 && what == "start" {
		// A permit scope's start checks the limit (permit_limit.lua).
		o.script = script.PermitScopeStart
		o.keys = append(o.keys, script.PermitLimitKey(s.at.resource))
		o.args = append(o.args, strconv.Itoa(s.limit))
	}
	return o
}

// round sends op what to targets and sorts the answers; it stops once a
// quorum holds or a quorum can no longer be reached.
// With full, a round that cannot reach need still waits for every answer
// (or the node timeout): a first acquisition that fails must know every
// node it took, to take them back.
func (s scopeCall) round(ctx context.Context, targets []int, what string, arg int64, need int, full bool) (scopeTally, error) {
	c := s.c
	t := scopeTally{fences: make([]int64, len(c.nodes))}
	err := c.round(ctx, ctx, targets, s.op(what, arg), func(r reply) bool {
		v, _ := r.val.([]int64)
		switch {
		case r.err != nil:
			t.failed = append(t.failed, c.acquireNodeError(r))
		case len(v) == 3 && v[0] == script.ScopeHeld:
			t.held = append(t.held, r.node)
			t.fences[r.node] = v[1]
			if v[2] == 1 {
				t.fresh = append(t.fresh, r.node)
			}
		case len(v) == 2 && v[0] == script.ScopeGuarded:
			ne := c.nodeError(reply{node: r.node, err: ErrNodeGuarded})
			ne.GuardedUntil = time.Now().Add(time.Duration(v[1]) * time.Millisecond)
			c.obs.guarded(ctx, r.node, time.Duration(v[1])*time.Millisecond)
			t.failed = append(t.failed, ne)
		case len(v) == 2 && v[0] == script.ScopeTaken:
			ne := c.nodeError(reply{node: r.node, err: ErrTaken})
			if v[1] > 0 {
				ne.TTL = time.Duration(v[1]) * time.Millisecond
			}
			t.failed = append(t.failed, ne)
		case len(v) == 2 && v[0] == script.ScopeLost:
			t.lost++
			t.failed = append(t.failed, c.nodeError(reply{node: r.node, err: ErrScopeLost}))
		case len(v) == 2 && v[0] == script.ScopeReleased:
			t.lost++
			t.released++
			t.failed = append(t.failed, c.nodeError(reply{node: r.node, err: ErrScopeEnded}))
		case len(v) == 2 && v[0] == script.ScopeSuperseded:
			t.superseded++
			t.failed = append(t.failed, c.nodeError(reply{node: r.node, err: ErrSuperseded}))
		case len(v) == 2 && v[0] == script.ScopeNoRecord:
			t.unknown++
			t.failed = append(t.failed, c.nodeError(reply{node: r.node, err: ErrNoScopeRecord}))
		default:
			t.failed = append(t.failed, c.nodeError(reply{node: r.node, err: errUnexpected(r.val)}))
		}
		// Out of reach of its quorum, a round still waits for answers
		// that could prove the loss (see Client.decided).
		granted, pending := t.granted(), t.pending(len(targets))
		proof := t.lost + t.unknown
		return granted >= need || (!full && granted+pending < need &&
			(t.superseded > 0 || proof > len(c.nodes)-c.quorum || proof+pending <= len(c.nodes)-c.quorum))
	})
	sortNodes(t.failed)
	return t, err
}

// recordSeen reports whether some node answered with a record of the
// scope (it holds the lock there, or proves it lost it): the scope did
// start. A first acquisition then counts only nodes where the scope held
// the lock before: a fresh grant is no evidence of continuity.
func (t scopeTally) recordSeen() bool {
	return !t.ignoreRecords && (len(t.held) > len(t.fresh) || t.lost > 0 || t.superseded > 0)
}

// granted is how many nodes count towards the quorum (see recordSeen).
func (t scopeTally) granted() int {
	if t.recordSeen() {
		return len(t.held) - len(t.fresh)
	}
	return len(t.held)
}

// pending is how many of n targets have not answered yet.
func (t scopeTally) pending(n int) int { return n - len(t.held) - len(t.failed) }

// gone reports whether the scope lost so many nodes that it can never hold
// a quorum again.
func (s scopeCall) gone(t scopeTally, countUnknown bool) bool {
	lost := t.lost
	if countUnknown {
		lost += t.unknown
	}
	return lost > len(s.c.nodes)-s.c.quorum
}

func (s scopeCall) acquire(ctx context.Context, first, start bool) (ScopeGrant, error) {
	c := s.c
	if err := ctx.Err(); err != nil {
		return ScopeGrant{}, errors.Join(ErrNotAcquired, err)
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	what := "resume"
	switch {
	case start:
		what = "start"
	case first:
		what = "first"
	}
	began := c.cfg.clock.now()
	// A failed round waits for every answer (up to the node timeout) so
	// that it can undo every grant: a late grant left behind would block
	// the node until its TTL and leave a record that looks like the scope's.
	t, err := s.round(ctx, c.allNodes(), what, fenceFloor(faultseam.Now()), c.quorum, first || start)
	if start {
		t.ignoreRecords = true
		if t.released > 0 && err == nil {
			// Only the scope's own release writes that: it is over.
			s.undo(ctx, t.fresh)
			return ScopeGrant{}, errors.Join(ErrLost, ErrScopeEnded, c.notAcquired(s.at.resource, 0, t.failed, false))
		}
	}
	switch {
	case err != nil:
		s.undo(ctx, t.fresh)
		if errors.Is(err, ErrClosed) {
			return ScopeGrant{}, err
		}
		return ScopeGrant{}, errors.Join(ErrNotAcquired, err)
	case t.recordSeen() && len(t.fresh) > 0:
		// The scope started before: the nodes it never held are no grant.
		s.undo(ctx, t.fresh)
		t.unknown += len(t.fresh)
		t.held = slices.DeleteFunc(t.held, func(i int) bool { return slices.Contains(t.fresh, i) })
		for _, i := range t.fresh {
			t.failed = append(t.failed, c.nodeError(reply{node: i, err: ErrNoScopeRecord}))
		}
		t.fresh = nil
		sortNodes(t.failed)
	}
	if len(t.held) < c.quorum {
		s.undo(ctx, t.fresh)
		na := c.notAcquired(s.at.resource, len(t.held), t.failed, false)
		if t.superseded > 0 {
			// A later attempt took a token: this one is stale for good.
			return ScopeGrant{}, errors.Join(ErrSuperseded, ErrLost, na)
		}
		// The scope is lost once it can never hold a quorum again: nodes
		// without a record count as lost, since no acquisition may take
		// them for a scope that started.
		lost := (t.recordSeen() || !first) && s.gone(t, true)
		if lost && t.released > 0 {
			return ScopeGrant{}, errors.Join(ErrLost, ErrScopeEnded, na)
		}
		if lost {
			return ScopeGrant{}, errors.Join(ErrLost, na)
		}
		return ScopeGrant{}, na
	}
	token := int64(0)
	for _, i := range t.held {
		token = max(token, t.fences[i])
	}
	var behind []int
	for _, i := range t.held {
		if t.fences[i] != token {
			behind = append(behind, i)
		}
	}
	if need := c.quorum - (len(t.held) - len(behind)); need > 0 {
		r, err := s.round(ctx, behind, "raise", token, need, false)
		if err != nil || len(r.held) < need {
			if err == nil {
				err = c.notAcquired(s.at.resource, len(t.held)-len(behind)+len(r.held), r.failed, false)
			}
			if r.superseded > 0 {
				err = errors.Join(ErrSuperseded, ErrLost, err)
			}
			s.undo(ctx, t.fresh)
			return ScopeGrant{}, errors.Join(ErrNotAcquired, err)
		}
	}
	validUntil := began.add(s.ttl - c.cfg.drift(s.ttl))
	if !validUntil.after(c.cfg.clock.now()) {
		s.undo(ctx, t.fresh)
		return ScopeGrant{}, c.notAcquired(s.at.resource, len(t.held), t.failed, true)
	}
	s.heal(t)
	if s.limit > 0 {
		c.repairPermitLimit(s.at.resource, s.limit, t.failed)
	}
	return ScopeGrant{Token: token, validUntil: validUntil, clock: c.cfg.clock}, nil
}

// heal copies the scope's lock, in the background, to the nodes that did
// not answer this round with a hold or a proof of loss: no record there
// (they missed the acquisition), no answer, or not answered yet. Sent only
// after a quorum held the scope in this round, it never makes up a quorum;
// it keeps the scope from depending on exactly the nodes it happened to
// reach, which a later failure of some of them would make a permanent
// stall.
func (s scopeCall) heal(t scopeTally) {
	skip := make([]bool, len(s.c.nodes))
	for _, i := range t.held {
		skip[i] = true
	}
	for _, ne := range t.failed {
		skip[ne.Node] = !errors.Is(ne.Err, ErrNoScopeRecord) && !errors.Is(ne.Err, ErrNodeTimeout)
	}
	var targets []int
	for i, done := range skip {
		if !done {
			targets = append(targets, i)
		}
	}
	if len(targets) > 0 {
		s.c.sendTo(targets, s.op("heal", 0))
	}
}

// undo takes back the locks a failed first acquisition took on nodes where
// the scope never held the lock (and their records), waiting at most one
// node timeout, also when ctx has ended.
func (s scopeCall) undo(ctx context.Context, nodes []int) {
	if len(nodes) == 0 {
		return
	}
	record, _ := s.at.scopeKeys(s.holder)
	o := &op{script: script.ScopeUndo, keys: []string{s.at.keys().Lock, record}, args: []any{s.owner}, decode: decodeInt64, final: true}
	detached := context.WithoutCancel(ctx)
	_ = s.c.round(detached, detached, nodes, o, func(reply) bool { return false })
}

func (s scopeCall) keep(ctx context.Context, started bool) (ScopeKept, error) {
	c := s.c
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	start := c.cfg.clock.now()
	// A keeper that does not know the scope started judges loss on lost
	// nodes alone, so it waits for every answer when it fails (at most one
	// node timeout): a verdict must not depend on which nodes answered first.
	t, err := s.round(ctx, c.allNodes(), "keep", 0, c.quorum, !started)
	if err != nil {
		return ScopeKept{}, err
	}
	if len(t.held) >= c.quorum {
		s.heal(t)
		fence := int64(0)
		for _, i := range t.held {
			fence = max(fence, t.fences[i])
		}
		return ScopeKept{Fence: fence, validUntil: start.add(s.ttl - c.cfg.drift(s.ttl)), clock: c.cfg.clock}, nil
	}
	qe := &QuorumError{Op: opKeepScope, Resource: s.at.resource, Quorum: c.quorum, Confirmed: len(t.held), Nodes: t.failed}
	switch {
	case t.superseded > 0:
		return ScopeKept{}, errors.Join(ErrSuperseded, ErrLost, qe)
	case t.released > len(c.nodes)-c.quorum:
		// Only the scope's own release writes that record, and it reached
		// so many nodes that the scope can never hold a quorum again.
		return ScopeKept{}, errors.Join(ErrScopeEnded, qe)
	case s.gone(t, started):
		// Without started, a node without a record may not have seen a
		// first acquisition that is under way, and a record proves no
		// start either: a failed attempt whose undo did not reach a node
		// (paused, say) leaves one there, and that node then counts as lost
		// once another holder was granted it. So only the lost nodes count:
		// more than N − quorum of them, and the scope can never hold again.
		// (The fault suite's Temporal workload found the waiting job that a
		// keeper declared lost from one such leftover record.)
		return ScopeKept{}, errors.Join(ErrLost, qe)
	case !started && len(t.held) == 0:
		// Nowhere held, and not provably lost: as far as this keeper can
		// tell, the scope has not started (a waiting acquisition).
		return ScopeKept{}, errors.Join(ErrScopeNotStarted, qe)
	}
	return ScopeKept{}, qe
}
