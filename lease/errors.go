package lease

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Callers test for them with errors.Is.
var (
	// ErrNotAcquired: the lease could not be acquired (no quorum, or the
	// validity left after the round was not positive). The concrete error is a
	// *NotAcquiredError with per-node detail.
	ErrNotAcquired = errors.New("lease: not acquired")
	// ErrNotExtended: an extension did not reach a quorum in time. The lease
	// may still be valid until its ValidUntil; the concrete error is a
	// *QuorumError.
	ErrNotExtended = errors.New("lease: not extended")
	// ErrLost: the lease can no longer be proven valid: its validity has
	// passed, or a majority of nodes no longer hold it for this owner.
	ErrLost = errors.New("lease: lost")
	// ErrNotReleased: fewer than a quorum of nodes confirmed the release. The
	// keys left behind expire by their TTL; the concrete error is a *QuorumError.
	ErrNotReleased = errors.New("lease: release not confirmed by a quorum")
	// ErrInvalidInput: an argument or option was rejected before any node was
	// touched. The concrete error is an *InvalidInputError.
	ErrInvalidInput = errors.New("lease: invalid input")
	// ErrReleased: the lease was released; it can no longer be extended.
	ErrReleased = errors.New("lease: released")
	// ErrDetached: Detach was called; the lock was left on the nodes for
	// another process to take over or release.
	ErrDetached = errors.New("lease: detached")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("lease: client closed")

	// ErrTaken is a per-node outcome: another owner holds the lock there.
	ErrTaken = errors.New("held by another owner")
	// ErrNotHeld is a per-node outcome of an extension: the lock there is
	// not this owner's and cannot be healed (someone acquired it since).
	ErrNotHeld = errors.New("not held by this owner")
	// ErrNodeTimeout is a per-node outcome: no reply within the node timeout.
	ErrNodeTimeout = errors.New("no reply within the node timeout")
	// ErrFenceExhausted is a per-node outcome of an acquisition: the node's
	// fence counter reached 2^53-1, the largest the scripts keep exact, so
	// it refuses to hand out tokens (nothing was written). Only tampering
	// with the counter gets there; delete the fence key only once no holder
	// of the resource is left, or use another resource name.
	ErrFenceExhausted = errors.New("fence counter exhausted")
	// ErrNodeGuarded is a per-node outcome of an acquisition: the node lost
	// its data (or is new and was not initialised with InitNode) and grants
	// no lock until its restart guard ends; NodeError.GuardedUntil says when.
	// Extensions, healing and releases still work there.
	ErrNodeGuarded = errors.New("guarded after losing its data")
	// ErrGuardMismatch is a per-node outcome of an acquisition: the node
	// records a longer restart guard than this client's (another client of
	// the same nodes uses longer TTLs); NodeError.Guard is the node's. Give
	// every client the same WithRestartGuard.
	ErrGuardMismatch = errors.New("restart guard shorter than the node's")
	// ErrPermitLimit is a per-node outcome of a permit acquisition: the node
	// records another limit K for the resource (NodeError.Limit); nothing
	// was changed there. Every caller must use the same K for a resource.
	ErrPermitLimit = errors.New("permit limit differs from the node's")
	// ErrScopeLost is a per-node outcome of a scope operation: the node
	// proves that the scope lost it — another owner's lock or tombstone,
	// a fence counter moved past the scope's, or the scope's release.
	ErrScopeLost = errors.New("the scope lost this node")
	// ErrScopeEnded: the scope was released (ReleaseScope); also a
	// per-node outcome. An acquisition of a released scope also matches
	// ErrLost.
	ErrScopeEnded = errors.New("lease: scope released")
	// ErrNoScopeRecord is a per-node outcome of a scope operation that may
	// not start the scope: the node has no record of the scope and not its
	// lock (it never held it, or it lost its data).
	ErrNoScopeRecord = errors.New("no record of the scope")
	// ErrScopeNotStarted: KeepScope found no node that ever held the scope
	// (its first acquisition has not happened yet).
	ErrScopeNotStarted = errors.New("lease: scope not acquired yet")
	// ErrSuperseded: a newer attempt of the scope took a later token; this
	// attempt is fenced out. Its errors also match ErrLost.
	ErrSuperseded = errors.New("lease: superseded by a newer attempt of the scope")
	// ErrProgressNotSaved: fewer than a quorum of nodes stored the
	// progress; the concrete error is a *QuorumError.
	ErrProgressNotSaved = errors.New("lease: progress not saved by a quorum")

	// ErrTTLAboveGuard: a TTL longer than the restart guard was asked for
	// (see WithRestartGuard). It comes wrapped in an *InvalidInputError.
	ErrTTLAboveGuard = errors.New("ttl longer than the restart guard")
)

// NodeError is the outcome of one node that did not succeed.
type NodeError struct {
	Node int    // index in the Client's node list
	Addr string // the node's address, when the client exposes one (never a password)
	// TTL is the remaining time to live of another owner's lock on this node,
	// set when Err is ErrTaken and the key has an expiry.
	TTL time.Duration
	// GuardedUntil is when the node's restart guard ends, on this process's
	// clock, when Err is ErrNodeGuarded.
	GuardedUntil time.Time
	// Guard is the restart guard the node requires, when Err is
	// ErrGuardMismatch.
	Guard time.Duration
	// Limit is the permit limit the node records, when Err is
	// ErrPermitLimit.
	Limit int
	Err   error
}

func (e *NodeError) Error() string {
	name := e.Addr
	if name == "" {
		name = fmt.Sprintf("#%d", e.Node)
	}
	switch {
	case errors.Is(e.Err, ErrTaken) && e.TTL > 0:
		return fmt.Sprintf("node %s: %v (ttl %v)", name, e.Err, e.TTL)
	case errors.Is(e.Err, ErrNodeGuarded) && !e.GuardedUntil.IsZero():
		return fmt.Sprintf("node %s: %v (grants again in %v)", name, e.Err, time.Until(e.GuardedUntil).Round(time.Millisecond))
	case errors.Is(e.Err, ErrPermitLimit):
		return fmt.Sprintf("node %s: %v (node has %d)", name, e.Err, e.Limit)
	case errors.Is(e.Err, ErrGuardMismatch):
		return fmt.Sprintf("node %s: %v (node requires %v; set WithRestartGuard)", name, e.Err, e.Guard)
	}
	return fmt.Sprintf("node %s: %v", name, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// NotAcquiredError reports a failed acquisition. errors.Is(err, ErrNotAcquired)
// holds for it.
type NotAcquiredError struct {
	Resource string
	Quorum   int // successes needed
	Acquired int // nodes that granted the lock in the round
	// ValidityElapsed is true when a quorum granted the lock but the round
	// took so long that no validity was left.
	ValidityElapsed bool
	// RetryAfter is the shortest time after which a node that refused may
	// grant: the remaining TTL of another owner's lock, or what is left of
	// a node's restart guard. A hint for when to try again; zero when
	// unknown.
	RetryAfter time.Duration
	// Held and Limit are set by permit acquisitions (AcquirePermit,
	// AcquirePermitScope): of the resource's Limit permits, Held were seen
	// held by a quorum of the nodes that answered (fewer than Limit: nodes
	// down or slow, not the holders, kept this call out). Zero otherwise.
	Held, Limit int
	Nodes       []*NodeError // nodes that did not grant the lock
}

func (e *NotAcquiredError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lease: not acquired %q: ", e.Resource)
	if e.ValidityElapsed {
		fmt.Fprintf(&b, "quorum reached but no validity left")
	} else {
		fmt.Fprintf(&b, "%d of %d needed nodes", e.Acquired, e.Quorum)
	}
	if e.Limit > 0 {
		fmt.Fprintf(&b, ", %d of %d permits held", e.Held, e.Limit)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry in %v", e.RetryAfter)
	}
	writeNodes(&b, e.Nodes)
	return b.String()
}

// Is reports ErrNotAcquired.
func (e *NotAcquiredError) Is(target error) bool { return target == ErrNotAcquired }

// QuorumError reports an extension or release that fewer than a quorum of
// nodes confirmed. Op is "extend" or "release"; errors.Is matches ErrNotExtended
// or ErrNotReleased accordingly.
type QuorumError struct {
	Op        string
	Resource  string
	Quorum    int
	Confirmed int
	Nodes     []*NodeError
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lease: %s %q: %d of %d needed nodes confirmed", e.Op, e.Resource, e.Confirmed, e.Quorum)
	writeNodes(&b, e.Nodes)
	return b.String()
}

// Is reports ErrNotExtended or ErrNotReleased, by Op.
func (e *QuorumError) Is(target error) bool {
	switch e.Op {
	case opExtend:
		return target == ErrNotExtended
	case opRelease:
		return target == ErrNotReleased
	case opKeepScope:
		return target == ErrNotExtended
	case opSaveProgress:
		return target == ErrProgressNotSaved
	}
	return false
}

// InvalidInputError names the argument or option that was rejected.
// errors.Is(err, ErrInvalidInput) holds for it, and errors.Is(err, Err)
// when Err is set (ErrTTLAboveGuard).
type InvalidInputError struct {
	Field  string
	Reason string
	Err    error
}

func (e *InvalidInputError) Error() string {
	return fmt.Sprintf("lease: invalid %s: %s", e.Field, e.Reason)
}

// Is reports ErrInvalidInput.
func (e *InvalidInputError) Is(target error) bool { return target == ErrInvalidInput }

// Unwrap returns the specific cause, if any.
func (e *InvalidInputError) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) error {
	return &InvalidInputError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

func writeNodes(b *strings.Builder, nodes []*NodeError) {
	for i, n := range nodes {
		if i == 0 {
			b.WriteString(" [")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(n.Error())
		if i == len(nodes)-1 {
			b.WriteString("]")
		}
	}
}

func errUnexpected(val any) error {
	return fmt.Errorf("unexpected script reply %T %v", val, val)
}
