package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/worker"
)

// Activities holds what the lease activities need. Register it once per
// worker; it is safe for concurrent use.
type Activities struct {
	client *lease.Client
}

// New returns the activities over client (which the caller keeps and closes).
func New(client *lease.Client) (*Activities, error) {
	if client == nil {
		return nil, errors.New("activities: nil lease client")
	}
	return &Activities{client: client}, nil
}

// Register registers AcquireLease, KeepLease and ReleaseLease under
// AcquireName, KeepName and ReleaseName.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.AcquireLease, activity.RegisterOptions{Name: AcquireName})
	r.RegisterActivityWithOptions(a.KeepLease, activity.RegisterOptions{Name: KeepName})
	r.RegisterActivityWithOptions(a.ReleaseLease, activity.RegisterOptions{Name: ReleaseName})
}

// AcquireLease acquires req.Lease's scope, waiting for the resource (woken
// by releases, with backoff as the fallback) and heartbeating while it
// waits, so the wait can be cancelled. A retried attempt continues what an
// earlier attempt acquired. It returns the LeaseInfo with the token; the
// lock stays on the nodes for the scope's other activities.
//
// Errors: LeaseNotAcquired (non-retryable) when req.Wait passed; LeaseLost
// (non-retryable) when the scope was released or another holder held the
// resource after an earlier attempt acquired it; LeaseInvalidInput
// (non-retryable) for a request the lease package rejects; the context's
// error when the activity is cancelled.
//
// For a permit scope (req.Lease.Limit > 0) it takes one of Limit permits
// (lease.Client.AcquirePermitScope) and returns the LeaseInfo with its
// Slot; a retried attempt continues the slot an earlier attempt took.
func (a *Activities) AcquireLease(ctx context.Context, req AcquireRequest) (LeaseInfo, error) {
	info := req.Lease
	if info.Limit < 0 || info.Limit > lease.MaxPermits {
		return LeaseInfo{}, invalidInput(fmt.Errorf("lease %q: permit limit %d: want 1 to %d (0 for a lease)", info.Resource, info.Limit, lease.MaxPermits))
	}
	grant, err := acquireHeartbeating(ctx, a.client, info, req.Wait, true)
	if err != nil {
		return LeaseInfo{}, err
	}
	info.Token, info.Slot = grant.Token, grant.Slot
	return info, nil
}

// ReleaseLease ends info's scope: it releases whatever lock the holder
// holds on info.Resource, leaving a tombstone for info.TTL, and the nodes
// remember the release (lease.ReleaseScope), so that no attempt of the
// scope delivered late (to a worker that was frozen, say) takes the lock or
// runs again. Other holders see the resource as free at once. It is
// idempotent: releasing twice, or after the lease expired or was taken by
// another holder, succeeds and changes nothing of the other holder's.
//
// A permit scope is released on its slot; one not known to have started
// (Token 0: its AcquireLease failed or its result was lost) on every slot
// of the resource, so that whatever slot an attempt took is freed and no
// attempt delivered late takes one.
func (a *Activities) ReleaseLease(ctx context.Context, info LeaseInfo) error {
	epoch := attemptEpoch(ctx)
	if !info.IsPermit() || info.Started() {
		return classify(a.client.ReleaseScope(ctx, info.Resource, info.Holder, epoch, info.TTL, info.scopeOptions()...))
	}
	if info.Limit > lease.MaxPermits {
		return invalidInput(fmt.Errorf("lease %q: permit limit %d above %d", info.Resource, info.Limit, lease.MaxPermits))
	}
	errs := make([]error, info.Limit)
	var wg sync.WaitGroup
	for slot := range info.Limit {
		wg.Go(func() {
			errs[slot] = a.client.ReleaseScope(ctx, info.Resource, info.Holder, epoch, info.TTL, lease.ScopePermit(slot))
		})
	}
	wg.Wait()
	return classify(errors.Join(errs...))
}

// attemptEpoch orders this activity attempt among all attempts of the
// workflow's activities: by the time the activity was scheduled, then by
// attempt. A retry is later than the attempt it replaces, and every
// activity scheduled after another is later than all of that one's attempts.
func attemptEpoch(ctx context.Context) lease.Epoch {
	info := activity.GetInfo(ctx)
	return lease.NewEpoch(uint64(info.ScheduledTime.UnixNano()), uint64(info.Attempt))
}

// Waiting is the heartbeat detail of an activity waiting for a lease.
type Waiting struct {
	Waiting  string
	Attempts int
}

// acquireHeartbeating acquires info's scope with a fresh token. AcquireLease
// starts the scope (start: no work of it can have run, lease.ScopeStart); a
// section of a scope not known to have started (!info.Started()) may take
// the lock where it never held it (lease.ScopeFirst). Both wait for it: in slices of at most one heartbeat interval,
// heartbeating between them, until wait (0: until ctx ends) has passed. A
// started scope is only continued, and a failure without proof of loss is
// returned as a retryable error.
//
// A permit scope's start takes one of info.Limit permits
// (lease.Client.AcquirePermitScope); its sections act on info.Slot.
func acquireHeartbeating(ctx context.Context, client *lease.Client, info LeaseInfo, wait time.Duration, start bool) (lease.PermitGrant, error) {
	opts := append([]lease.ScopeOption{lease.ScopeTTL(info.TTL), lease.ScopeAttempt(attemptEpoch(ctx))}, info.scopeOptions()...)
	acquire := func(opts ...lease.ScopeOption) (lease.PermitGrant, error) {
		g, err := client.AcquireScope(ctx, info.Resource, info.Owner, opts...)
		return lease.PermitGrant{ScopeGrant: g, Slot: info.Slot, Limit: info.Limit}, err
	}
	switch {
	case start && info.IsPermit():
		opts = opts[:2] // the start picks the slot
		acquire = func(opts ...lease.ScopeOption) (lease.PermitGrant, error) {
			return client.AcquirePermitScope(ctx, info.Resource, info.Limit, info.Owner, opts...)
		}
	case start:
		opts = append(opts, lease.ScopeStart())
	case !info.Started() && info.IsPermit():
		return lease.PermitGrant{}, invalidInput(fmt.Errorf("lease %q: a section of a permit scope that was not acquired (Token 0): permit scopes are started by AcquireLease", info.Resource))
	case !info.Started():
		opts = append(opts, lease.ScopeFirst())
	}
	beat := func(w Waiting) { activity.RecordHeartbeat(ctx, w) }
	slice := heartbeatInterval(activity.GetInfo(ctx).HeartbeatTimeout)
	var deadline time.Time
	if wait > 0 {
		deadline = time.Now().Add(wait)
	}
	for attempt := 1; ; attempt++ {
		step := slice
		if !deadline.IsZero() {
			step = min(step, time.Until(deadline))
		}
		grant, err := acquire(append(opts, lease.ScopeWait(max(step, 0)))...)
		var notAcquired *lease.NotAcquiredError
		switch {
		case err == nil:
			return grant, nil
		case ctx.Err() != nil:
			return grant, ctx.Err()
		case errors.Is(err, lease.ErrSuperseded):
			return grant, leaseLost(fmt.Sprintf("lease %q: a later attempt of this scope took a token; this attempt was delivered late", info.Resource), err)
		case errors.Is(err, lease.ErrScopeEnded):
			return grant, nonRetryable(fmt.Sprintf("lease %q: the scope was released; no attempt of it runs any more", info.Resource), ErrorTypeReleased, err)
		case errors.Is(err, lease.ErrLost):
			return grant, leaseLost(fmt.Sprintf("lease %q: another holder held the resource since this scope acquired it", info.Resource), err)
		case !errors.As(err, &notAcquired), info.Started():
			// Continuing a scope, no quorum but no proof of loss (nodes
			// down, slow or guarded): retryable, by Temporal.
			return grant, classify(err)
		}
		// Held by another holder, or nodes down, slow or guarded: keep
		// waiting within the budget.
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return grant, temporalNotAcquired(info.Resource, wait, err)
		}
		beat(Waiting{Waiting: info.Resource, Attempts: attempt})
	}
}

func temporalNotAcquired(resource string, wait time.Duration, cause error) error {
	return nonRetryable(fmt.Sprintf("lease %q not acquired within %v", resource, wait), ErrorTypeNotAcquired, cause)
}

// heartbeatInterval is half the heartbeat timeout, or 5 s without one.
func heartbeatInterval(heartbeatTimeout time.Duration) time.Duration {
	if heartbeatTimeout <= 0 {
		return 5 * time.Second
	}
	return heartbeatTimeout / 2
}
