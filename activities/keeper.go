package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/activity"
)

// Keeping is the heartbeat detail of KeepLease.
type Keeping struct {
	Resource string
	// Started: the scope was seen held on a quorum of nodes. A retried
	// attempt that reads it counts nodes without a record of the scope as
	// lost.
	Started bool
	// Fence is the highest fence counter at the last keep: the newest
	// token of the scope.
	Fence int64
}

// KeepLease keeps info's scope alive for as long as the workflow runs it:
// every interval (HeartbeatTimeout/2, at most TTL/3) it extends the scope's
// lock on the nodes (lease.Client.KeepScope) and, when a quorum did,
// records a heartbeat. A keep that fails skips the heartbeat, so Temporal
// restarts the keeper on another worker when this one cannot reach Redis
// or dies. With acquire-and-run (info.Token 0) it waits, heartbeating,
// until the first section has acquired the lease.
//
// It returns the context's error when the workflow cancels it (the scope
// ended), nil once the nodes say the scope was released, and a
// non-retryable LeaseLost when the nodes prove the scope
// lost: another holder held the resource since the scope acquired it (the
// lock expired while no worker could keep it, say), or the scope was
// released. Down, slow or paused nodes are never taken for a loss.
func (a *Activities) KeepLease(ctx context.Context, info LeaseInfo) error {
	if info.TTL <= 0 {
		return invalidInput(fmt.Errorf("lease %q: TTL %v in LeaseInfo is not positive", info.Resource, info.TTL))
	}
	interval := min(heartbeatInterval(activity.GetInfo(ctx).HeartbeatTimeout), info.TTL/3)
	started := info.Started()
	if activity.HasHeartbeatDetails(ctx) {
		var prev Keeping
		if activity.GetHeartbeatDetails(ctx, &prev) == nil && prev.Started {
			started = true
		}
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		kept, err := a.client.KeepScope(ctx, info.Resource, info.Owner, info.TTL, started)
		switch {
		case err == nil:
			started = true
			activity.RecordHeartbeat(ctx, Keeping{Resource: info.Resource, Started: true, Fence: kept.Fence})
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, lease.ErrScopeEnded):
			return nil // released, by the scope's last section or ReleaseLease
		case errors.Is(err, lease.ErrLost):
			return leaseLost(fmt.Sprintf("lease %q lost: another holder held the resource since the scope acquired it, or the scope was released", info.Resource), err)
		case errors.Is(err, lease.ErrScopeNotStarted):
			activity.RecordHeartbeat(ctx, Keeping{Resource: info.Resource})
		case errors.Is(err, lease.ErrInvalidInput):
			return classify(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
