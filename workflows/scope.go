package workflows

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Scope is a lease that workflow code holds from Acquire to Release,
// across whatever runs in between: activities, timers, signal waits, child
// workflows, retries with long backoff. A keeper activity (KeepLease)
// extends it for as long as the scope lives, on whichever worker Temporal
// gives it, so the TTL does not depend on how long the gaps last.
//
// What holds: no section of the scope runs after another holder held the
// resource since the scope acquired it. When the nodes prove that the scope
// lost the resource (no worker could keep it for a TTL and another holder
// took it, or a majority of nodes lost it), Context is cancelled, Err
// returns a LeaseLost error, and every section of the scope fails with
// LeaseLost. Workers or nodes that are down are not a loss: the keeper and
// the sections retry.
type Scope struct {
	info   activities.LeaseInfo
	opts   LeaseOptions
	ctx    workflow.Context // the sections' context: cancelled on loss
	cancel workflow.CancelFunc

	stopKeeper workflow.CancelFunc
	ended      bool  // Release was called
	err        error // why the scope failed, once it has
}

// Acquire starts a scope on resource for this workflow run: it acquires the
// lease (the AcquireLease activity, waiting up to opts.Wait; with
// opts.AcquireInSection the first section acquires it instead) and starts
// the keeper. Call Release when the scope ends — also on failure: defer it.
// On error nothing is left held (what an acquisition may have left on the
// nodes is released).
func Acquire(ctx workflow.Context, resource string, opts LeaseOptions) (*Scope, error) {
	return acquire(ctx, resource, 0, opts)
}

// AcquirePermit starts a scope on one of limit permits of resource for
// this workflow run (see lease.Client.AcquirePermit: at most limit permit
// holders at once, Go callers' permits of the resource included): the
// AcquireLease activity takes a permit, waiting up to opts.Wait, and the
// keeper then keeps it. The Scope works as Acquire's; its Lease() carries
// the permit's Limit and Slot, and section tokens are per slot — a
// resource fences permit holders per (Slot, Token). opts.AcquireInSection
// is refused (ErrInvalidOptions): a permit's slot is chosen before any
// section runs.
//
// Unlike a lease's, a permit's keeper starts once AcquireLease returned
// (it needs the slot): the lease TTL must also cover that gap, one
// workflow task and the keeper's start, which it does by the timing rule
// unless no worker polls the workflow's task queue for longer.
func AcquirePermit(ctx workflow.Context, resource string, limit int, opts LeaseOptions) (*Scope, error) {
	switch {
	case limit <= 0 || limit > lease.MaxPermits:
		err := fmt.Errorf("%w: permit limit %d: want 1 to %d", ErrInvalidOptions, limit, lease.MaxPermits)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrorTypeInvalidInput, err)
	case opts.AcquireInSection:
		err := fmt.Errorf("%w: AcquireInSection does not apply to permits", ErrInvalidOptions)
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrorTypeInvalidInput, err)
	}
	return acquire(ctx, resource, limit, opts)
}

// acquire starts a lease scope (limit 0) or a permit scope.
func acquire(ctx workflow.Context, resource string, limit int, opts LeaseOptions) (*Scope, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrorTypeInvalidInput, err)
	}
	var nonce string
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		var b [16]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return hex.EncodeToString(b[:])
	}).Get(&nonce); err != nil {
		return nil, err
	}
	wf := workflow.GetInfo(ctx)
	epoch := lease.NewEpoch(uint64(workflow.Now(ctx).UnixNano()), 0)
	s := &Scope{
		info: activities.NewLeaseInfo(resource, wf.Namespace, wf.WorkflowExecution.ID, wf.WorkflowExecution.RunID, opts.Name, epoch, nonce, opts.TTL),
		opts: opts,
	}
	s.info.Limit = limit
	s.ctx, s.cancel = workflow.WithCancel(workflow.WithActivityOptions(ctx, opts.sectionOptions()))
	// A lease's keeper starts with the acquisition, so that nothing leaves
	// the lease unkept between them (it waits until the lease is acquired);
	// a permit's once the acquisition named its slot. It lives in a
	// disconnected context: only Release stops it, so cleanup after the
	// workflow's cancellation still runs under a kept lease.
	disconnected, _ := workflow.NewDisconnectedContext(ctx)
	keeperCtx, stopKeeper := workflow.WithCancel(disconnected)
	s.stopKeeper = stopKeeper
	if limit == 0 {
		s.startKeeper(disconnected, keeperCtx)
	}
	if !opts.AcquireInSection {
		acquireCtx := workflow.WithActivityOptions(ctx, opts.acquireOptions())
		req := activities.AcquireRequest{Lease: s.info, Wait: opts.Wait}
		if err := workflow.ExecuteActivity(acquireCtx, activities.AcquireName, req).Get(acquireCtx, &s.info); err != nil {
			// An attempt may have acquired on the nodes even if this
			// workflow never saw its result.
			_ = s.Release(ctx)
			return nil, err
		}
	}
	if limit > 0 {
		s.startKeeper(disconnected, keeperCtx)
	}
	return s, nil
}

// startKeeper runs the KeepLease activity for the scope in keeperCtx, and
// fails the scope when the keeper ends on an error it does not retry.
func (s *Scope) startKeeper(disconnected, keeperCtx workflow.Context) {
	keeper := workflow.ExecuteActivity(workflow.WithActivityOptions(keeperCtx, s.opts.keeperOptions()), activities.KeepName, s.info)
	workflow.Go(disconnected, func(gctx workflow.Context) {
		err := keeper.Get(gctx, nil)
		if s.ended || err == nil || temporal.IsCanceledError(err) {
			return // released, or stopped by Release
		}
		// Otherwise the keeper ends only on an error it does not retry: a
		// proven loss, or a keeper no worker can run.
		s.fail(err)
	})
}

// fail records why the scope failed and cancels its context.
func (s *Scope) fail(err error) {
	if s.err != nil {
		return
	}
	if !activities.IsLeaseLost(err) {
		err = temporal.NewNonRetryableApplicationError("lease "+s.info.Resource+": the keeper failed; the lease is no longer kept", activities.ErrorTypeLeaseLost, err)
	}
	s.err = err
	s.cancel()
}

// Lease describes the scope's lease, for the critical-section activities:
// pass it to activities that call activities.Run. With AcquireInSection its
// Token is 0 (the first section acquires the lease).
func (s *Scope) Lease() activities.LeaseInfo { return s.info }

// Context is the context for the scope's critical sections: it carries
// their activity options (HeartbeatTimeout, WaitForCancellation, the lease
// errors non-retryable) and is cancelled when the scope fails.
func (s *Scope) Context() workflow.Context { return s.ctx }

// Err is nil while the scope holds, and a LeaseLost application error once
// it failed: the nodes proved the lease lost, or its keeper could not run.
func (s *Scope) Err() error { return s.err }

// Release ends the scope: it cancels the scope's context, stops the keeper
// and releases the lease (the ReleaseLease activity, retried for up to
// twice the TTL, in a context disconnected from ctx so it runs after a
// cancellation too). Afterwards no attempt of the scope's sections takes
// a token again; one still running learns it at its next extension (within
// one interval), and until then only the fencing token keeps its writes
// out. A failed release is returned and logged; the lock then expires by
// its TTL. Calling it again does nothing.
func (s *Scope) Release(ctx workflow.Context) error {
	if s.ended {
		return nil
	}
	s.ended = true
	s.cancel()
	s.stopKeeper()
	return s.release(ctx)
}

func (s *Scope) release(ctx workflow.Context) error {
	releaseCtx, _ := workflow.NewDisconnectedContext(ctx)
	releaseCtx = workflow.WithActivityOptions(releaseCtx, s.opts.releaseOptions())
	err := workflow.ExecuteActivity(releaseCtx, activities.ReleaseName, s.info).Get(releaseCtx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("lease release failed; the lock expires by its TTL", "resource", s.info.Resource, "error", err)
	}
	return err
}

// keeperRetry restarts a keeper whose worker died (its heartbeat timed
// out) or whose attempt timed out within about a second, for as long as
// the scope lives: the TTL must outlast the heartbeat timeout plus this.
var keeperRetry = temporal.RetryPolicy{
	InitialInterval:    100 * time.Millisecond,
	BackoffCoefficient: 2,
	MaximumInterval:    activities.KeeperRestart,
}

// keeperAttempt bounds one keeper attempt; a longer scope continues in the
// next attempt.
const keeperAttempt = time.Hour
