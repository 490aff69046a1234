package exclusivejob

import (
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// StagedJobName is the workflow type of StagedJob.
const StagedJobName = "exclusivejob.StagedJob"

// StagedRequest is the input of StagedJob.
type StagedRequest struct {
	Resource string
	Lease    workflows.LeaseOptions
	Stages   []Stage
}

// Stage is one critical section of a StagedJob and the pause after it.
type Stage struct {
	Steps        int
	StepDuration time.Duration
	// FailAttempts: see StepsInput.
	FailAttempts int32
	// PauseAfter is a workflow.Sleep after the stage, with the lease held
	// (a deploy waiting for a rollout to settle, say).
	PauseAfter time.Duration
}

// StagedJob holds req.Resource for all its stages: each stage is a
// FencedSteps section, and the lease stays held through the pauses and
// the retries between them, however long they last. Its steps are
// numbered across stages in the store's log.
func StagedJob(ctx workflow.Context, req StagedRequest) ([]StepsResult, error) {
	var results []StepsResult
	err := workflows.WithLease(ctx, req.Resource, req.Lease, func(ctx workflow.Context, l activities.LeaseInfo) error {
		first := 0
		for i, st := range req.Stages {
			in := StepsInput{Steps: st.Steps, StepDuration: st.StepDuration, FirstStep: first, FailAttempts: st.FailAttempts}
			section := l
			if i == len(req.Stages)-1 && st.PauseAfter == 0 {
				section = l.AsLast() // releases the lease as soon as it succeeded
			}
			var r StepsResult
			if err := workflow.ExecuteActivity(ctx, StepsName, section, in).Get(ctx, &r); err != nil {
				return err
			}
			results = append(results, r)
			first += st.Steps
			if st.PauseAfter > 0 {
				if err := workflow.Sleep(ctx, st.PauseAfter); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return results, err
}

// RegisterWorkflows registers StagedJob under StagedJobName.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(StagedJob, workflow.RegisterOptions{Name: StagedJobName})
}
