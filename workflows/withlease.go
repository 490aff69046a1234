package workflows

import (
	"errors"

	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// WithLease acquires resource for this workflow run, runs fn, and releases
// the lease — also when fn fails, the workflow is cancelled, or acquisition
// failed half-way (release runs in a disconnected context).
//
// fn's ctx carries the activity options for critical sections
// (HeartbeatTimeout, WaitForCancellation, LeaseLost non-retryable): run the
// work as activities that call activities.Run with the LeaseInfo fn gets.
// With AcquireInSection, LeaseInfo.Owner is empty and the first such
// activity acquires the lease itself.
//
// A critical section whose lease was lost fails with a LeaseLost
// application error (activities.IsLeaseLost); WithLease returns it, after
// the release. WithLease returns fn's result: a release that fails after
// fn succeeded is logged (the lock expires by its TTL) and does not turn
// the completed work into an error.
func WithLease(ctx workflow.Context, resource string, opts LeaseOptions, fn func(ctx workflow.Context, lease activities.LeaseInfo) error) (err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), activities.ErrorTypeInvalidInput, err)
	}
	info := workflow.GetInfo(ctx)
	lease := activities.LeaseInfo{
		Resource: resource,
		Holder:   activities.HolderID(info.Namespace, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, opts.Name),
		TTL:      opts.TTL,
	}
	// Release whatever this holder may hold, whatever happens from here:
	// an AcquireLease attempt may have succeeded on the nodes even if the
	// workflow never saw its result.
	defer func() {
		releaseCtx, _ := workflow.NewDisconnectedContext(ctx)
		releaseCtx = workflow.WithActivityOptions(releaseCtx, opts.releaseOptions())
		// A failed release does not turn completed work into a failure (a
		// caller that retried would redo it): it is logged, and the lock
		// expires by its TTL.
		if releaseErr := workflow.ExecuteActivity(releaseCtx, activities.ReleaseName, lease).Get(releaseCtx, nil); releaseErr != nil {
			workflow.GetLogger(ctx).Warn("lease release failed; the lock expires by its TTL",
				"resource", resource, "error", releaseErr)
		}
	}()

	if !opts.AcquireInSection {
		acquireCtx := workflow.WithActivityOptions(ctx, opts.acquireOptions())
		req := activities.AcquireRequest{Resource: resource, LeaseName: opts.Name, TTL: opts.TTL, Wait: opts.Wait}
		if err := workflow.ExecuteActivity(acquireCtx, activities.AcquireName, req).Get(acquireCtx, &lease); err != nil {
			return err
		}
	}
	return fn(workflow.WithActivityOptions(ctx, opts.sectionOptions()), lease)
}

// IsCanceled reports whether err comes from the workflow's cancellation.
func IsCanceled(err error) bool {
	var canceled *temporal.CanceledError
	return errors.As(err, &canceled)
}
