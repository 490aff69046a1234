package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
)

// Heartbeat is the first heartbeat detail Run records: which lease the
// attempt holds. The section's progress (Section.Progress) is the second.
type Heartbeat struct {
	Resource string
	Token    int64
	// HasProgress says that a second detail, the progress, follows.
	HasProgress bool
}

// Section is what a critical section sees while it runs under Run.
type Section struct {
	ctx   context.Context // the activity's own context, for heartbeat details
	lease *lease.Lease

	resumed resumption // what the previous attempts left

	mu       sync.Mutex
	progress any // sent with each heartbeat; starts as resumed
}

// Token is this attempt's fencing token. Pass it with every write to the
// protected resource and let the resource refuse tokens lower than the
// highest it has seen: that is what fences out a zombie attempt.
func (s *Section) Token() int64 { return s.lease.Token() }

// Lease is the lease held by this attempt.
func (s *Section) Lease() *lease.Lease { return s.lease }

// Progress records details to send with the next heartbeat (after the next
// successful extension). A retried attempt reads the last recorded value
// with LastProgress and resumes from it. Until fn calls Progress, the
// heartbeats carry the previous attempt's progress forward, so an attempt
// that dies before it records any does not erase its predecessor's.
func (s *Section) Progress(details any) {
	s.mu.Lock()
	s.progress = details
	s.mu.Unlock()
}

func (s *Section) currentProgress() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.progress
}

// LastProgress decodes into ptr the progress the previous attempts last
// sent with a heartbeat. It reports false when there is none (first
// attempt, or no heartbeat with progress reached the server: the SDK
// throttles heartbeats to about 80% of the HeartbeatTimeout) or when it
// does not decode into ptr.
func (s *Section) LastProgress(ptr any) bool {
	if !s.resumed.found {
		return false
	}
	var hb Heartbeat
	return activity.GetHeartbeatDetails(s.ctx, &hb, ptr) == nil
}

// resumption is what an attempt inherits from the last heartbeat of the
// attempts before it.
type resumption struct {
	found bool // that heartbeat carried progress
	// carried is that progress, undecoded, for this attempt's heartbeats
	// to carry forward: nil when there is none or when the worker's data
	// converter cannot pass raw values through (the SDK's default and codec
	// converters can); progress is then kept only from the first Progress
	// call on.
	carried any
}

// previousProgress reads the progress of the last heartbeat the server
// holds for this activity.
func previousProgress(ctx context.Context) resumption {
	var hb Heartbeat
	if !activity.HasHeartbeatDetails(ctx) || activity.GetHeartbeatDetails(ctx, &hb) != nil || !hb.HasProgress {
		return resumption{}
	}
	r := resumption{found: true}
	var raw converter.RawValue
	if activity.GetHeartbeatDetails(ctx, &hb, &raw) == nil && raw.Payload() != nil {
		r.carried = raw
	}
	return r
}

// Run executes fn as the critical section of a heartbeating activity that
// holds info's lease. Call it from your activity function:
//
//	func (j *Jobs) Step(ctx context.Context, l activities.LeaseInfo, in Input) (Output, error) {
//		return activities.Run(ctx, j.Leases, l, func(ctx context.Context, s *activities.Section) (Output, error) {
//			return j.store.Write(ctx, s.Token(), ...) // fenced write
//		})
//	}
//
// Each attempt first takes the lease over for its holder with a fresh,
// higher token (a previous attempt of the same holder is fenced out); if
// info.Owner is empty (acquire-and-run) it waits for the lease like
// AcquireLease. Then fn runs in its own goroutine while this goroutine, on
// every interval (HeartbeatTimeout/2, at most TTL/3), extends the lease
// and, if that succeeded, records the activity heartbeat (Heartbeat and the
// section's progress). A failed extension skips the heartbeat, so Temporal
// retries the attempt elsewhere if this worker cannot reach Redis.
//
// fn's context is cancelled when the activity is cancelled or the lease is
// lost; fn must then return promptly. A lost lease (or a lock another
// holder took first) returns a non-retryable LeaseLost error. When fn
// returns, the lease is left on the nodes for the workflow's next activity
// or ReleaseLease.
//
// The activity's options must follow the timing rule: TTL > HeartbeatTimeout
// + interval; otherwise Run returns LeaseInvalidInput.
func Run[T any](ctx context.Context, a *Activities, info LeaseInfo, fn func(ctx context.Context, s *Section) (T, error)) (T, error) {
	var zero T
	ttl := info.TTL
	if ttl <= 0 {
		return zero, invalidInput(fmt.Errorf("lease %q: TTL %v in LeaseInfo is not positive", info.Resource, ttl))
	}
	heartbeatTimeout := activity.GetInfo(ctx).HeartbeatTimeout
	interval := min(heartbeatInterval(heartbeatTimeout), ttl/3)
	if heartbeatTimeout > 0 && ttl <= heartbeatTimeout+interval {
		return zero, invalidInput(fmt.Errorf("lease %q: TTL %v must exceed HeartbeatTimeout %v + extension interval %v", info.Resource, ttl, heartbeatTimeout, interval))
	}

	resumed := previousProgress(ctx)
	l, err := takeOver(ctx, a.client, info, resumed.carried)
	if err != nil {
		return zero, err
	}
	defer l.Detach() // keep the lock for the next activity; stop tracking it here

	section := &Section{ctx: ctx, lease: l, resumed: resumed, progress: resumed.carried}
	heartbeat(ctx, Heartbeat{Resource: info.Resource, Token: l.Token()}, section.currentProgress())
	work, stop := l.Context(ctx)
	defer stop()
	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn(work, section)
		done <- result{v, err}
	}()

	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case r := <-done:
			if errors.Is(context.Cause(work), lease.ErrLost) {
				return r.value, leaseLost(fmt.Sprintf("lease %q lost during the critical section", info.Resource), r.err)
			}
			return r.value, r.err
		case <-ticker.C:
			if err := l.Extend(ctx); err == nil {
				heartbeat(ctx, Heartbeat{Resource: info.Resource, Token: l.Token()}, section.currentProgress())
			}
			// ErrLost ends the lease, which cancels work; fn then returns.
		}
	}
}

// heartbeat records hb, and progress when there is some.
func heartbeat(ctx context.Context, hb Heartbeat, progress any) {
	hb.HasProgress = progress != nil
	recordHeartbeat(ctx, hb, progress)
}

// recordHeartbeat records first, then progress as the second detail when
// there is some: a retried attempt then finds no progress rather than a
// null one.
func recordHeartbeat(ctx context.Context, first, progress any) {
	if progress == nil {
		activity.RecordHeartbeat(ctx, first)
		return
	}
	activity.RecordHeartbeat(ctx, first, progress)
}

// takeOver gets the lease for this attempt: a takeover of the holder's own
// lock (or of a free one), waiting for it when info.Owner is empty; the
// heartbeats while it waits carry progress forward.
func takeOver(ctx context.Context, client *lease.Client, info LeaseInfo, progress any) (*lease.Lease, error) {
	if info.Owner == "" {
		return acquireHeartbeating(ctx, client, info.Resource, info.Holder, info.TTL, 0, progress)
	}
	l, err := client.Acquire(ctx, info.Resource, lease.WithHolder(info.Holder), lease.WithEpoch(attemptEpoch(ctx)),
		lease.WithTakeover(), lease.WithLeaseTTL(info.TTL))
	var notAcquired *lease.NotAcquiredError
	switch {
	case err == nil:
		return l, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.As(err, &notAcquired) && heldByAnotherQuorum(notAcquired):
		return nil, leaseLost(fmt.Sprintf("lease %q is held by another holder, or by a newer attempt of this one, on a quorum of nodes", info.Resource), err)
	}
	// No proof of loss: the quorum was missed because nodes are down, slow
	// or guarded, or only a minority answered "held by another": retryable.
	return nil, classify(err)
}

// heldByAnotherQuorum reports whether a quorum of nodes answered that
// another owner holds the lock: only that proves the lease gone. Down, slow
// or guarded nodes, and a minority of "taken" answers (a stray lock), do
// not.
func heldByAnotherQuorum(e *lease.NotAcquiredError) bool {
	taken := 0
	for _, ne := range e.Nodes {
		if errors.Is(ne.Err, lease.ErrTaken) {
			taken++
		}
	}
	return taken >= e.Quorum
}
