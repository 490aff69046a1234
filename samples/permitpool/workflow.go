package permitpool

import (
	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// WorkflowName is the workflow type under which RegisterWorkflows
// registers Workflow.
const WorkflowName = "permitpool.Workflow"

// Request is the input of Workflow.
type Request struct {
	Resource string // the API
	Limit    int    // K: at most Limit workflows call it at once
	Calls    []CallInput
	// Lease configures the permit; zero fields take WithPermit's defaults.
	Lease workflows.LeaseOptions
}

// Workflow holds one of req.Limit permits of req.Resource while it makes
// its calls, one section each, and returns what each call's finishing
// attempt did. The permit is released when the workflow ends, however it
// ends; the last call releases it as soon as it succeeded.
func Workflow(ctx workflow.Context, req Request) ([]CallResult, error) {
	var results []CallResult
	err := workflows.WithPermit(ctx, req.Resource, req.Limit, req.Lease, func(ctx workflow.Context, permit activities.LeaseInfo) error {
		for i, call := range req.Calls {
			info := permit
			if i == len(req.Calls)-1 {
				info = permit.AsLast()
			}
			var r CallResult
			if err := workflow.ExecuteActivity(ctx, CallName, info, call).Get(ctx, &r); err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	return results, err
}

// RegisterWorkflows registers Workflow under WorkflowName.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
}
