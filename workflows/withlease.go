package workflows

import (
	"errors"

	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// WithLease holds a Scope on resource while fn runs: it acquires the lease,
// runs fn, and releases the lease — also when fn fails, the workflow is
// cancelled, or acquisition failed half-way. Between acquisition and
// release the keeper keeps the lease however long fn takes, timers,
// signal waits and retries included.
//
// fn's ctx is the scope's Context: it carries the activity options for
// critical sections, and is cancelled when the scope fails. Run the work as
// activities that call activities.Run with the LeaseInfo fn gets. With
// AcquireInSection, LeaseInfo.Token is 0 and the first such activity
// acquires the lease itself.
//
// WithLease returns the scope's LeaseLost error when the lease was lost
// while fn ran (activities.IsLeaseLost), else fn's result: a release that
// fails after fn succeeded is logged (the lock expires by its TTL) and does
// not turn the completed work into an error.
func WithLease(ctx workflow.Context, resource string, opts LeaseOptions, fn func(ctx workflow.Context, lease activities.LeaseInfo) error) error {
	scope, err := Acquire(ctx, resource, opts)
	if err != nil {
		return err
	}
	return runScope(ctx, scope, fn)
}

// WithPermit holds one of limit permits of resource while fn runs, as
// WithLease holds a lease: at most limit workflows (and Go callers of
// lease.Client.AcquirePermit on the same resource) hold a permit at once.
// fn gets the permit's LeaseInfo: its Slot and the sections' tokens are
// what a resource fences on (per slot). See AcquirePermit for what
// differs from a lease.
func WithPermit(ctx workflow.Context, resource string, limit int, opts LeaseOptions, fn func(ctx workflow.Context, permit activities.LeaseInfo) error) error {
	scope, err := AcquirePermit(ctx, resource, limit, opts)
	if err != nil {
		return err
	}
	return runScope(ctx, scope, fn)
}

// runScope runs fn in the scope and releases it.
func runScope(ctx workflow.Context, scope *Scope, fn func(ctx workflow.Context, lease activities.LeaseInfo) error) error {
	err := fn(scope.Context(), scope.Lease())
	lost := scope.Err()
	_ = scope.Release(ctx) // logged by Release
	if lost != nil {
		return lost
	}
	return err
}

// IsCanceled reports whether err comes from the workflow's cancellation.
func IsCanceled(err error) bool {
	var canceled *temporal.CanceledError
	return errors.As(err, &canceled)
}
