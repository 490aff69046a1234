package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/activity"
)

// KeeperRestart bounds how long Temporal takes to start a new keeper
// attempt once the last one ended (its retry policy's longest interval,
// see workflows), counted in the timing rule.
const KeeperRestart = time.Second

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
// records a heartbeat. A keep that no quorum confirmed ends the attempt
// with a retryable error, and a worker that dies stops heartbeating: either
// way Temporal restarts the keeper (within a second, or after the
// heartbeat timeout), on another worker if one polls. Until a keep finds
// the scope held by a quorum (or a previous attempt's heartbeat says one
// did), the keeper does not know the scope started — the acquisition it
// was started with may still be waiting — and waits, heartbeating, while
// nothing holds the scope.
//
// It returns the context's error when the workflow cancels it (the scope
// ended), nil once the nodes say the scope was released, and a
// non-retryable LeaseLost when the nodes prove the scope
// lost: another holder held the resource since the scope acquired it (the
// lock expired while no worker could keep it, say), or the scope was
// released. Down, slow or paused nodes are never taken for a loss. A
// keeper that does not know the scope started counts only nodes that
// prove the loss, not nodes without a record (a failed attempt can leave a
// record behind): it misses a loss that N − quorum nodes or fewer prove,
// and the scope's next section reports it instead.
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
		kept, err := a.client.KeepScope(ctx, info.Resource, info.Owner, info.TTL, started, info.scopeOptions()...)
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
		default:
			// No quorum kept the lease (nodes down or unreachable from
			// here). End this attempt at once rather than wait for the
			// heartbeat timeout: the SDK may still send a heartbeat it
			// buffered after the last good keep, which would delay
			// Temporal's restart of the keeper by up to 0.8 heartbeat
			// timeouts. The retry comes within a second, possibly on
			// another worker.
			return fmt.Errorf("lease %q not kept by a quorum: %w", info.Resource, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
