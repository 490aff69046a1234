package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The keeper runs from the acquisition to the release, across a timer
// between two sections (the test environment does not skip time while an
// activity runs: the timer takes real time), and the imperative handles release once.
func TestScopeKeepsTheLeaseAcrossATimer(t *testing.T) {
	r := &recorder{}
	env := newEnv(t, r)
	env.SetTestTimeout(30 * time.Second)
	var errWhileHeld error
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		scope, err := workflows.Acquire(ctx, "printer", workflows.LeaseOptions{TTL: 20 * time.Second})
		if err != nil {
			return err
		}
		defer scope.Release(ctx)
		sctx := scope.Context()
		if err := workflow.ExecuteActivity(sctx, "Section", scope.Lease(), nil).Get(sctx, nil); err != nil {
			return err
		}
		if err := workflow.Sleep(sctx, time.Second); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(sctx, "Section", scope.Lease(), nil).Get(sctx, nil); err != nil {
			return err
		}
		errWhileHeld = scope.Err()
		if err := scope.Release(ctx); err != nil {
			return err
		}
		return scope.Release(ctx) // a second release does nothing
	}, workflow.RegisterOptions{Name: "timer"})
	env.ExecuteWorkflow("timer")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "section", "release")
	if r.kept != 1 || errWhileHeld != nil {
		t.Fatalf("keeper attempts %d, Err while held %v: want one keeper and no error", r.kept, errWhileHeld)
	}
}

// When the keeper proves the lease lost, the scope's context is cancelled
// (the running section with it), WithLease returns LeaseLost and the lease
// is still released.
func TestLossCancelsTheScope(t *testing.T) {
	r := &recorder{
		keepErr:       temporal.NewNonRetryableApplicationError("lost", activities.ErrorTypeLeaseLost, nil),
		keepFailAfter: 300 * time.Millisecond, // while the section runs
		body:          heartbeatUntilCancelled,
	}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	if err := env.GetWorkflowError(); !activities.IsLeaseLost(err) {
		t.Fatalf("workflow error %v, want LeaseLost", err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
}

// A keeper that fails for another reason (no worker registered it) fails
// the scope too: nothing keeps the lease any more.
func TestKeeperFailureFailsTheScope(t *testing.T) {
	r := &recorder{
		keepErr:       temporal.NewNonRetryableApplicationError("not registered", "ActivityNotRegisteredError", nil),
		keepFailAfter: 300 * time.Millisecond,
		body: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		},
	}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	if err := env.GetWorkflowError(); !activities.IsLeaseLost(err) {
		t.Fatalf("workflow error %v, want LeaseLost", err)
	}
}
