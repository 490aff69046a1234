package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// WithPermit asks AcquireLease for one of K permits, starts the keeper
// with the slot the acquisition chose, runs fn with it, and releases the
// permit on that slot.
func TestWithPermitKeepsAndReleasesTheAcquiredSlot(t *testing.T) {
	r := &recorder{}
	env := newEnv(t, r)
	var asked activities.AcquireRequest
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.AcquireRequest) (activities.LeaseInfo, error) {
		r.add("acquire")
		asked = req
		info := req.Lease
		info.Token, info.Slot = 7, 2
		return info, nil
	}, activity.RegisterOptions{Name: activities.AcquireName})
	var kept activities.LeaseInfo
	env.RegisterActivityWithOptions(func(ctx context.Context, l activities.LeaseInfo) error {
		kept = l
		return r.keep(ctx, l)
	}, activity.RegisterOptions{Name: activities.KeepName})
	var got activities.LeaseInfo
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflows.WithPermit(ctx, "api", 3, workflows.LeaseOptions{}, func(ctx workflow.Context, p activities.LeaseInfo) error {
			got = p
			return workflow.ExecuteActivity(ctx, "Section", p, nil).Get(ctx, nil)
		})
	}, workflow.RegisterOptions{Name: "permit"})
	env.ExecuteWorkflow("permit")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	assertCalls(t, r.Calls(), "acquire", "section", "release")
	if asked.Lease.Limit != 3 || got.Limit != 3 || got.Slot != 2 || got.Token != 7 || !got.IsPermit() {
		t.Fatalf("asked %+v, fn got %+v: want limit 3, slot 2, token 7", asked.Lease, got)
	}
	if kept.Slot != 2 || kept.Token != 7 {
		t.Fatalf("the keeper kept %+v, want the acquired slot 2", kept)
	}
	if len(r.released) != 1 || r.released[0].Slot != 2 || r.released[0].Limit != 3 {
		t.Fatalf("released %+v, want slot 2 of 3", r.released)
	}
}

// A permit whose acquisition failed is released as unstarted (Token 0), so
// the release activity frees whatever slot an attempt took; the keeper
// never starts.
func TestFailedPermitAcquisitionReleasesEverySlot(t *testing.T) {
	r := &recorder{}
	env := newEnv(t, r)
	env.RegisterActivityWithOptions(func(ctx context.Context, req activities.AcquireRequest) (activities.LeaseInfo, error) {
		r.add("acquire")
		return activities.LeaseInfo{}, temporal.NewNonRetryableApplicationError("no", activities.ErrorTypeNotAcquired, nil)
	}, activity.RegisterOptions{Name: activities.AcquireName})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		return workflows.WithPermit(ctx, "api", 3, workflows.LeaseOptions{}, func(workflow.Context, activities.LeaseInfo) error { return nil })
	}, workflow.RegisterOptions{Name: "permit"})
	env.ExecuteWorkflow("permit")
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeNotAcquired {
		t.Fatalf("workflow error %v, want LeaseNotAcquired", err)
	}
	assertCalls(t, r.Calls(), "acquire", "release")
	if len(r.released) != 1 || r.released[0].Token != 0 || r.released[0].Limit != 3 {
		t.Fatalf("released %+v, want the unstarted permit of 3", r.released)
	}
	if r.kept != 0 {
		t.Fatalf("%d keeper attempts for a permit never acquired", r.kept)
	}
}

// Bad permit options fail the workflow with LeaseInvalidInput before any
// activity runs.
func TestWithPermitRefusesBadOptions(t *testing.T) {
	for name, call := range map[string]func(workflow.Context) error{
		"zero limit": func(ctx workflow.Context) error {
			_, err := workflows.AcquirePermit(ctx, "api", 0, workflows.LeaseOptions{})
			return err
		},
		"limit too big": func(ctx workflow.Context) error {
			_, err := workflows.AcquirePermit(ctx, "api", 1000, workflows.LeaseOptions{})
			return err
		},
		"acquire in section": func(ctx workflow.Context) error {
			_, err := workflows.AcquirePermit(ctx, "api", 2, workflows.LeaseOptions{AcquireInSection: true})
			return err
		},
		"ttl too short": func(ctx workflow.Context) error {
			_, err := workflows.AcquirePermit(ctx, "api", 2, workflows.LeaseOptions{TTL: time.Second})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := &recorder{}
			env := newEnv(t, r)
			env.RegisterWorkflowWithOptions(call, workflow.RegisterOptions{Name: "bad"})
			env.ExecuteWorkflow("bad")
			var appErr *temporal.ApplicationError
			if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeInvalidInput {
				t.Fatalf("workflow error %v, want LeaseInvalidInput", err)
			}
			if calls := r.Calls(); len(calls) != 0 {
				t.Fatalf("activities ran: %v", calls)
			}
		})
	}
}
