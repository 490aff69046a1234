package lease

import (
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the Client options.
const (
	DefaultTTL         = 10 * time.Second
	DefaultDriftFactor = 0.01
	DefaultNodeTimeout = 50 * time.Millisecond
	// DefaultRestartGuard is the default restart guard, and so the longest
	// TTL a lease may have by default (see WithRestartGuard).
	DefaultRestartGuard = time.Minute
	// driftFloor is added to ttl·driftFactor: the reference Redlock formula's
	// 2 ms for process pauses and clock granularity.
	driftFloor = 2 * time.Millisecond
	// MaxResourceLen is the longest resource name accepted, in bytes.
	MaxResourceLen = 256
	// MaxHolderLen is the longest holder id accepted, in bytes.
	MaxHolderLen = 512
)

type config struct {
	ttl                      time.Duration
	driftFactor              float64
	handOffChosen, handedOff func() // tests only: see WithHandOffHooks
	nodeTimeout              time.Duration
	newBackOff               func() backoff.BackOff
	guard                    time.Duration
	scopeMemory              time.Duration
	clock                    clock

	tracerProvider trace.TracerProvider // nil: the global one
	meterProvider  metric.MeterProvider // nil: the global one
}

func defaultConfig() config {
	return config{
		ttl:         DefaultTTL,
		scopeMemory: DefaultScopeMemory,
		driftFactor: DefaultDriftFactor,
		nodeTimeout: DefaultNodeTimeout,
		newBackOff:  defaultBackOff,
		guard:       DefaultRestartGuard,
		clock:       systemClock{},
	}
}

// drift is the clock-drift allowance subtracted from a lease's validity.
func (c config) drift(ttl time.Duration) time.Duration {
	return time.Duration(float64(ttl)*c.driftFactor) + driftFloor
}

// checkTTL rejects a TTL that could never leave validity after the two
// rounds of an acquisition, and one longer than the restart guard.
func (c config) checkTTL(field string, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return invalid(field, "%v is below Redis's 1 ms resolution", ttl)
	}
	if min := c.drift(ttl) + 2*c.nodeTimeout; ttl <= min {
		return invalid(field, "%v leaves no validity: it must exceed the drift allowance plus two node timeouts (%v)", ttl, min)
	}
	if ttl > c.guard {
		return &InvalidInputError{Field: field, Reason: fmt.Sprintf("%v is longer than the restart guard (%v): a node restarted empty could grant the lock again while it lives; raise WithRestartGuard on every client of these nodes", ttl, c.guard), Err: ErrTTLAboveGuard}
	}
	return nil
}

// guardWindow is how long a node that lost its data grants nothing: the
// guard plus its drift allowance, as node clocks may run apart by that
// much during the guard.
func (c config) guardWindow() time.Duration { return c.guard + c.drift(c.guard) }

// defaultBackOff is exponential with jitter: 10 ms doubling to 500 ms, ±50%,
// with no elapsed-time limit of its own (the wait budget and ctx bound it).
func defaultBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 10 * time.Millisecond
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxInterval = 500 * time.Millisecond
	b.MaxElapsedTime = 0
	return b
}

// Option configures a Client.
type Option func(*config) error

// WithTTL sets the default time to live of acquired leases.
// Default: DefaultTTL (10 s). Acquire's WithLeaseTTL overrides it per call.
func WithTTL(ttl time.Duration) Option {
	return func(c *config) error { c.ttl = ttl; return nil }
}

// WithDriftFactor sets the share of the TTL allowed for clock drift between
// this process and the Redis nodes; validity is ttl − elapsed − (ttl·factor + 2 ms).
// Default: DefaultDriftFactor (0.01). Must be in [0, 0.5).
func WithDriftFactor(factor float64) Option {
	return func(c *config) error {
		if !(factor >= 0 && factor < 0.5) {
			return invalid("drift factor", "%v is outside [0, 0.5)", factor)
		}
		c.driftFactor = factor
		return nil
	}
}

// WithNodeTimeout bounds each request to a single node. A node that has not
// answered by then counts as failed for that round, so one slow or paused
// node cannot stall an operation beyond it. Default: DefaultNodeTimeout (50 ms).
//
// The round stops waiting by itself; for the request to also give up its
// connection, create the go-redis clients with ContextTimeoutEnabled: true.
func WithNodeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("node timeout", "%v is not positive", d)
		}
		c.nodeTimeout = d
		return nil
	}
}

// WithRetryBackOff sets how Acquire spaces its attempts while it waits (see
// WithWait). The function is called once per waiting Acquire, so policies
// never share state between calls. Default: exponential with jitter, 10 ms
// doubling to 500 ms, ±50%.
func WithRetryBackOff(newBackOff func() backoff.BackOff) Option {
	return func(c *config) error {
		if newBackOff == nil {
			return invalid("retry backoff", "nil function")
		}
		c.newBackOff = newBackOff
		return nil
	}
}

// WithRestartGuard sets the restart guard: how long a node that lost its
// data (a restart without persistence, FLUSHALL, an empty replica
// promoted, a brand-new node) refuses to grant locks, counted from the
// first acquisition that reaches it afterwards, plus the drift allowance.
// It is also the longest TTL a lease may have: Acquire and New refuse a
// longer one with an *InvalidInputError matching ErrTTLAboveGuard, so
// every lock a node may have granted before losing its data has expired
// when the node grants again. Extend, healing and Release keep working on
// a guarded node; a guarded node answers acquisitions with ErrNodeGuarded.
//
// Every client of the same nodes should use the same guard. A node keeps
// the longest guard it has been asked for and refuses acquisitions from a
// client with a shorter one (ErrGuardMismatch), since that client's window
// would not cover the longer leases; a longer guard arriving while a node
// is guarded lengthens its window. Raise the guard on every client to
// move to longer TTLs; lowering it needs nodes without leases, re-created.
//
// Default: DefaultRestartGuard (1 minute). Must be positive. A node that
// has never served locks need not sit out the guard: see InitNode.
func WithRestartGuard(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return invalid("restart guard", "%v is not positive", d)
		}
		c.guard = d
		return nil
	}
}

type acquireConfig struct {
	ttl       time.Duration
	holder    string
	takeover  bool
	epoch     Epoch
	wait      time.Duration
	keepAlive time.Duration // < 0: no keeper; 0: every TTL/3
}

// AcquireOption configures one Acquire call.
type AcquireOption func(*acquireConfig) error

// WithLeaseTTL sets this lease's time to live. Default: the Client's TTL.
func WithLeaseTTL(ttl time.Duration) AcquireOption {
	return func(c *acquireConfig) error { c.ttl = ttl; return nil }
}

// WithHolder names the logical holder of the lease (for example a workflow
// run). The owner value stored in Redis becomes holder#epoch#nonce (the
// epoch of WithEpoch, empty by default, and a random nonce), which
// ReleaseHolder and WithTakeover match on by its holder# prefix. The holder must be
// non-empty, at most MaxHolderLen bytes, and must not contain '#'.
// Default: no holder; the owner value is a random nonce only.
func WithHolder(holder string) AcquireOption {
	return func(c *acquireConfig) error {
		switch {
		case holder == "":
			return invalid("holder", "empty")
		case len(holder) > MaxHolderLen:
			return invalid("holder", "%d bytes, more than %d", len(holder), MaxHolderLen)
		case strings.ContainsRune(holder, '#'):
			return invalid("holder", "%q contains '#'", holder)
		}
		c.holder = holder
		return nil
	}
}

// WithTakeover lets this acquisition take over a lock whose owner value has
// the same holder (WithHolder is required) and an epoch not later than this
// one's (WithEpoch): a retried attempt replaces its previous attempt's
// owner value and gets a fresh, strictly higher fencing token, so the
// previous attempt is fenced out; an attempt delivered late never takes the
// lock from a newer one. A lock of a different holder is never taken over.
// Default: off.
func WithTakeover() AcquireOption {
	return func(c *acquireConfig) error { c.takeover = true; return nil }
}

// WithWait lets Acquire keep trying for up to d when the lock is held,
// spacing attempts by the Client's retry backoff and never sleeping past the
// budget or ctx. Default: 0, a single attempt.
//
// Waiting calls of one Client are served in arrival order: a release by
// the Client hands the lock to the first of them that is waiting (see
// Lease.Release), and a call that finds another waiting call of the Client
// in line waits for its turn (or its first backoff step) before it tries,
// so a caller that has just released does not barge back in. Across
// processes there is no order: other processes' waiters compete at their
// backoff steps and at the announced releases. A call makes at least one
// attempt, however short d is.
func WithWait(d time.Duration) AcquireOption {
	return func(c *acquireConfig) error {
		if d < 0 {
			return invalid("wait", "%v is negative", d)
		}
		c.wait = d
		return nil
	}
}

// WithKeepAlive starts the lease's keeper right after acquisition, as
// Lease.KeepAlive(every) does: every 0 means TTL/3. Default: no keeper; the
// lease then ends at its validity deadline unless Extend is called.
func WithKeepAlive(every time.Duration) AcquireOption {
	return func(c *acquireConfig) error {
		if every < 0 {
			return invalid("keep-alive interval", "%v is negative", every)
		}
		c.keepAlive = every
		return nil
	}
}

// WithEpoch sets this attempt's epoch (see Epoch); WithHolder is required.
// Default: the empty epoch, earlier than every other.
func WithEpoch(epoch Epoch) AcquireOption {
	return func(c *acquireConfig) error {
		if strings.ContainsRune(string(epoch), '#') {
			return invalid("epoch", "%q contains '#'", epoch)
		}
		c.epoch = epoch
		return nil
	}
}
