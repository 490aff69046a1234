package activities

import (
	"context"
	"errors"
	"fmt"
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

// Register registers AcquireLease and ReleaseLease under AcquireName and
// ReleaseName.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.AcquireLease, activity.RegisterOptions{Name: AcquireName})
	r.RegisterActivityWithOptions(a.ReleaseLease, activity.RegisterOptions{Name: ReleaseName})
}

// AcquireLease acquires req.Resource for the calling workflow run, waiting
// for it (woken by releases, with backoff as the fallback) and
// heartbeating while it waits, so the wait can be cancelled. A retried
// attempt takes its own holder's lock over. The lease is left on the nodes
// for the workflow's next activities; it expires by TTL if nothing takes it
// over or releases it.
//
// Errors: LeaseNotAcquired (non-retryable) when req.Wait passed;
// LeaseInvalidInput (non-retryable) for a request the lease package
// rejects; the context's error when the activity is cancelled.
func (a *Activities) AcquireLease(ctx context.Context, req AcquireRequest) (LeaseInfo, error) {
	info := activity.GetInfo(ctx)
	holder := HolderID(info.Namespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, req.LeaseName)
	l, err := acquireHeartbeating(ctx, a.client, req.Resource, holder, req.TTL, req.Wait, nil)
	if err != nil {
		return LeaseInfo{}, err
	}
	l.Detach() // the lock stays; this process stops tracking it
	return LeaseInfo{Resource: l.Resource(), Holder: holder, Owner: l.Owner(), Token: l.Token(), TTL: l.TTL()}, nil
}

// ReleaseLease releases whatever lock info.Holder holds on info.Resource
// (any earlier attempt's owner value) and leaves a tombstone for info.TTL,
// so that an attempt of this workflow delivered late (to a worker that was
// frozen, say) cannot take the lock and run again. Other holders see the
// resource as free at once. It is idempotent: releasing twice, or after the
// lease expired or was taken by another holder, succeeds and changes
// nothing of the other holder's.
func (a *Activities) ReleaseLease(ctx context.Context, info LeaseInfo) error {
	return classify(a.client.ReleaseHolder(ctx, info.Resource, info.Holder, attemptEpoch(ctx), info.TTL))
}

// attemptEpoch orders this activity attempt among all attempts of the
// workflow's activities: by the time the activity was scheduled, then by
// attempt. A retry is later than the attempt it replaces, and every
// activity scheduled after another is later than all of that one's attempts.
func attemptEpoch(ctx context.Context) lease.Epoch {
	info := activity.GetInfo(ctx)
	return lease.NewEpoch(uint64(info.ScheduledTime.UnixNano()), uint64(info.Attempt))
}

// waitingProgress is the heartbeat detail of an activity waiting for a
// lease. Decoded as a Heartbeat, it says whether progress follows.
type waitingProgress struct {
	Waiting     string
	Attempts    int
	HasProgress bool
}

// acquireHeartbeating acquires resource for holder (taking over its own
// holder's lock), retrying in slices of at most one heartbeat interval and
// heartbeating between them, until wait (0: until ctx ends) has passed.
// The heartbeats carry progress (when not nil) as their second detail.
func acquireHeartbeating(ctx context.Context, client *lease.Client, resource, holder string, ttl, wait time.Duration, progress any) (*lease.Lease, error) {
	opts := []lease.AcquireOption{lease.WithHolder(holder), lease.WithEpoch(attemptEpoch(ctx)), lease.WithTakeover()}
	if ttl > 0 {
		opts = append(opts, lease.WithLeaseTTL(ttl))
	}
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
		l, err := client.Acquire(ctx, resource, append(opts, lease.WithWait(max(step, 0)))...)
		var notAcquired *lease.NotAcquiredError
		switch {
		case err == nil:
			return l, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !errors.As(err, &notAcquired):
			return nil, classify(err)
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return nil, temporalNotAcquired(resource, wait, err)
		}
		recordHeartbeat(ctx, waitingProgress{Waiting: resource, Attempts: attempt, HasProgress: progress != nil}, progress)
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
