package lease

import (
	"context"
	"sync"
	"time"
)

// Lease is an acquired lock on one resource, with its fencing token.
//
// Holding a *Lease is not proof that the lock is still held: a lease is valid
// only until ValidUntil, and only under Redlock's assumptions (clocks of this
// process and the nodes drift less than the drift allowance, and nodes keep
// their data while the lease lives). Work that must not run twice should
// pass Token to the protected resource and let it reject stale tokens.
//
// A Lease is safe for concurrent use.
type Lease struct {
	client   *Client
	keys     keys
	resource string
	owner    string
	holder   string
	token    int64
	ttl      time.Duration
	// acquiredAt is when the acquisition that produced the lease started.
	acquiredAt time.Time

	mu         sync.Mutex
	validUntil instant // on both clocks: see clock
	released   bool    // Release was called
	// ended is why the lease ended (ErrLost or ErrReleased), nil while it
	// lives; done is closed and cancels are called when it is set.
	ended      error
	done       chan struct{}
	watchdog   *time.Timer // fires at validUntil: loss when nothing extended it
	cancels    map[uint64]context.CancelCauseFunc
	nextCancel uint64
	keeper     *keeper // set by KeepAlive
}

// Resource is the name of the leased resource.
func (l *Lease) Resource() string { return l.resource }

// Token is the fencing token: strictly greater than the token of every
// earlier holder of this resource. Tokens come from the nodes' fence
// counters, which never fall below the acquiring process's clock in
// microseconds: they keep increasing while a quorum of nodes keeps its
// counters, and also after nodes lost them (a restart without persistence)
// as long as the clocks of the acquiring processes agree to within the time
// between the two acquisitions.
// The token never changes during the lease's life, including on Extend.
func (l *Lease) Token() int64 { return l.token }

// Owner is the value stored in Redis for this lease. It is a credential:
// whoever knows it can release the lease. Do not log it.
func (l *Lease) Owner() string { return l.owner }

// Holder is the holder id given with WithHolder, or "".
func (l *Lease) Holder() string { return l.holder }

// TTL is the time to live each acquisition or extension sets on the nodes.
func (l *Lease) TTL() time.Duration { return l.ttl }

// ValidUntil is the instant until which the lease is known valid: the
// start of the last successful acquisition or extension, plus TTL, minus
// the drift allowance. Validity is measured on a clock that keeps counting
// while the machine is suspended (the wall clock) as well as on the
// monotonic clock, which does not; the time returned is now
// plus the smaller of the two clocks' time left, so after a suspend it
// lies in the past.
func (l *Lease) ValidUntil() time.Time {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if left := l.validUntil.until(now); left != l.validUntil.mono.Sub(now.mono) {
		return now.mono.Add(left) // the suspend-aware clock has less left
	}
	return l.validUntil.mono
}

// Valid reports whether the validity deadline has not passed, on both
// clocks, and the lease was neither released nor found lost. A lease whose
// deadline has passed ends as lost here (Done closes), also when the timer
// that watches the deadline has not fired yet, as after a suspend. A true
// answer can be stale by the time it is used.
func (l *Lease) Valid() bool {
	now := l.client.cfg.clock.now()
	l.mu.Lock()
	valid := !l.released && l.ended == nil && l.validUntil.after(now)
	expired := l.ended == nil && !l.validUntil.after(now)
	l.mu.Unlock()
	if expired {
		l.markLost()
	}
	return valid
}
