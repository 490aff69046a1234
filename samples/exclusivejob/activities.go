// Package exclusivejob is the sample of a long-running job that must never
// run twice at once: many heartbeating steps, each a fenced write, run
// under a lease by the ExclusiveJob workflow, or in stages with pauses
// between them by StagedJob. A retried attempt resumes after the last step
// it saved.
package exclusivejob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/samples/fencedstore"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// StepsName is the activity name of FencedSteps.
const StepsName = "exclusivejob.FencedSteps"

// StepsInput is the job: Steps steps of StepDuration each.
type StepsInput struct {
	Steps        int
	StepDuration time.Duration
	// FirstStep numbers the steps in the store's log from FirstStep on
	// (a stage of a StagedJob starts where the previous one ended).
	FirstStep int
	// FailAttempts makes the first FailAttempts attempts fail (retryably)
	// once their steps are done, as a flaky last step would: the retries
	// resume at the end and wait out the retry policy's backoff.
	FailAttempts int32
}

// StepsResult reports what the finishing attempt did.
type StepsResult struct {
	Steps      int   // steps done in all
	Token      int64 // the finishing attempt's token
	ResumedAt  int   // the step the finishing attempt started from
	Attempt    int32
	WorkflowID string
}

// Progress is the job's progress, saved after every step.
type Progress struct {
	Done  int   // steps done
	Token int64 // token of the attempt that did them
}

// Activities runs the job; Leases and Store are required.
type Activities struct {
	Leases *activities.Activities
	Store  *fencedstore.Store
}

// Register registers FencedSteps under StepsName.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.FencedSteps, activity.RegisterOptions{Name: StepsName})
}

// FencedSteps runs the job's steps under the lease, writing one entry per
// step to the fenced store with this attempt's token.
func (a *Activities) FencedSteps(ctx context.Context, l activities.LeaseInfo, in StepsInput) (StepsResult, error) {
	if in.Steps <= 0 || in.StepDuration < 0 || in.FirstStep < 0 || in.FailAttempts < 0 {
		return StepsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("bad job %+v: Steps must be positive, StepDuration, FirstStep and FailAttempts not negative", in), "BadJob", nil)
	}
	info := activity.GetInfo(ctx)
	return activities.Run(ctx, a.Leases, l, func(ctx context.Context, s *activities.Section) (StepsResult, error) {
		var last Progress
		start := 0
		if s.LastProgress(&last) {
			start = last.Done
		}
		for step := start; step < in.Steps; step++ {
			select {
			case <-ctx.Done():
				return StepsResult{}, ctx.Err()
			case <-time.After(in.StepDuration):
			}
			entry := fencedstore.Entry{Holder: info.WorkflowExecution.ID, Step: in.FirstStep + step, Note: fmt.Sprintf("attempt %d", info.Attempt)}
			if err := a.Store.Write(ctx, s.Token(), entry); err != nil {
				if errors.Is(err, fencedstore.ErrStaleToken) {
					return StepsResult{}, temporal.NewNonRetryableApplicationError("fenced out: "+err.Error(), "FencedOut", err)
				}
				return StepsResult{}, err
			}
			// Saved on the lease's nodes before the next step: a crash
			// redoes at most the step in progress. A save that fails for
			// want of nodes only risks redoing steps (their writes are
			// fenced): go on. One refused because a newer attempt holds a
			// later token ends this attempt.
			if err := s.Progress(Progress{Done: step + 1, Token: s.Token()}); err != nil {
				if activities.IsLeaseLost(err) {
					return StepsResult{}, err
				}
				activity.GetLogger(ctx).Warn("progress not saved; a retry may redo steps", "step", step, "error", err)
			}
		}
		if info.Attempt <= in.FailAttempts {
			return StepsResult{}, fmt.Errorf("flaky: attempt %d of %d that fail", info.Attempt, in.FailAttempts)
		}
		return StepsResult{Steps: in.Steps, Token: s.Token(), ResumedAt: start, Attempt: info.Attempt, WorkflowID: info.WorkflowExecution.ID}, nil
	})
}
