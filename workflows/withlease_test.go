package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// recorder stands in for the lease activities and a critical section,
// recording the order of calls.
type recorder struct {
	mu       sync.Mutex
	calls    []string
	released []activities.LeaseInfo
	body     func(ctx context.Context) error
	// releaseErr, when set, is what the release activity fails with.
	releaseErr error
	// keepErr, when set, is what the keeper fails with.
	keepErr       error
	keepFailAfter time.Duration // how long the keeper runs before failing with keepErr
	kept          int           // keeper attempts started
}

func (r *recorder) add(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (r *recorder) acquire(ctx context.Context, req activities.AcquireRequest) (activities.LeaseInfo, error) {
	r.add("acquire")
	info := req.Lease
	info.Token = 7
	return info, nil
}

// keep stands in for KeepLease: it heartbeats until cancelled, or fails
// with keepErr once set.
func (r *recorder) keep(ctx context.Context, l activities.LeaseInfo) error {
	r.mu.Lock()
	r.kept++
	r.mu.Unlock()
	for start := time.Now(); ; {
		activity.RecordHeartbeat(ctx)
		if r.keepErr != nil && time.Since(start) >= r.keepFailAfter {
			return r.keepErr
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *recorder) release(_ context.Context, l activities.LeaseInfo) error {
	r.add("release")
	r.mu.Lock()
	r.released = append(r.released, l)
	r.mu.Unlock()
	return r.releaseErr
}

func (r *recorder) section(ctx context.Context, l activities.LeaseInfo, _ any) (string, error) {
	r.add("section")
	if r.body != nil {
		if err := r.body(ctx); err != nil {
			return "", err
		}
	}
	return "done", nil
}

func newEnv(t *testing.T, r *recorder) *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(r.acquire, activity.RegisterOptions{Name: activities.AcquireName})
	env.RegisterActivityWithOptions(r.release, activity.RegisterOptions{Name: activities.ReleaseName})
	env.RegisterActivityWithOptions(r.keep, activity.RegisterOptions{Name: activities.KeepName})
	env.RegisterActivityWithOptions(r.section, activity.RegisterOptions{Name: "Section"})
	workflows.Register(env)
	return env
}

func job(opts workflows.LeaseOptions) workflows.JobRequest {
	return workflows.JobRequest{Resource: "printer", Activity: "Section", Input: "x", Lease: opts}
}

func TestExclusiveJobAcquiresRunsAndReleases(t *testing.T) {
	r := &recorder{}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var result string
	if err := env.GetWorkflowResult(&result); err != nil || result != "done" {
		t.Fatalf("result %q, %v", result, err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
	if len(r.released) != 1 || r.released[0].Holder == "" || r.released[0].Resource != "printer" {
		t.Fatalf("released %+v: want this run's holder on printer", r.released)
	}
}

func TestReleaseRunsWhenTheSectionFails(t *testing.T) {
	r := &recorder{body: func(context.Context) error {
		return temporal.NewNonRetryableApplicationError("boom", "Boom", nil)
	}}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != "Boom" {
		t.Fatalf("workflow error %v, want the section's Boom", err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
}

// heartbeatUntilCancelled is a section body that runs until its activity
// is cancelled.
func heartbeatUntilCancelled(ctx context.Context) error {
	for {
		activity.RecordHeartbeat(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestReleaseRunsWhenTheWorkflowIsCancelled(t *testing.T) {
	r := &recorder{body: heartbeatUntilCancelled}
	env := newEnv(t, r)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Second)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	if err := env.GetWorkflowError(); !workflows.IsCanceled(err) || activities.IsLeaseLost(err) {
		t.Fatalf("workflow error %v, want cancellation (and no LeaseLost: nothing was lost)", err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
}

func TestAcquireInSectionSkipsTheAcquireActivity(t *testing.T) {
	var seen activities.LeaseInfo
	r := &recorder{}
	env := newEnv(t, r)
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflows.WithLease(ctx, "printer", workflows.LeaseOptions{AcquireInSection: true}, func(ctx workflow.Context, l activities.LeaseInfo) error {
			seen = l
			return workflow.ExecuteActivity(ctx, "Section", l, nil).Get(ctx, nil)
		})
	}, workflow.RegisterOptions{Name: "inline"})
	env.ExecuteWorkflow("inline")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	assertCalls(t, r.Calls(), "section", "release")
	if seen.Token != 0 || seen.Owner == "" || seen.Holder == "" || seen.TTL != workflows.DefaultTTL {
		t.Fatalf("lease info for acquire-and-run: %+v", seen)
	}
}

func TestTimingRuleViolationIsRejectedBeforeAnyActivity(t *testing.T) {
	r := &recorder{}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{TTL: 10 * time.Second, HeartbeatTimeout: 10 * time.Second}))
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeInvalidInput {
		t.Fatalf("workflow error %v, want %s", err, activities.ErrorTypeInvalidInput)
	}
	if calls := r.Calls(); len(calls) != 0 {
		t.Fatalf("activities ran despite invalid options: %v", calls)
	}
}

func assertCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("calls %v, want %v", got, want)
		}
	}
}

// A release that fails after the work succeeded does not make the job fail:
// a caller that retried would run the completed work again.
func TestFailedReleaseKeepsTheWorksResult(t *testing.T) {
	r := &recorder{releaseErr: temporal.NewNonRetryableApplicationError("nodes down", "ReleaseFailed", nil)}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error %v after the work succeeded", err)
	}
	var result string
	if err := env.GetWorkflowResult(&result); err != nil || result != "done" {
		t.Fatalf("result %q, %v", result, err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
}

// When the work failed too, the work's error is what the job returns.
func TestFailedReleaseKeepsTheWorksError(t *testing.T) {
	r := &recorder{
		body:       func(context.Context) error { return temporal.NewNonRetryableApplicationError("boom", "Boom", nil) },
		releaseErr: temporal.NewNonRetryableApplicationError("nodes down", "ReleaseFailed", nil),
	}
	env := newEnv(t, r)
	env.ExecuteWorkflow(workflows.ExclusiveJobName, job(workflows.LeaseOptions{}))
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != "Boom" {
		t.Fatalf("workflow error %v, want the section's Boom", err)
	}
}
