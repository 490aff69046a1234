package workflows

import (
	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// ExclusiveJobName is the workflow type under which Register registers ExclusiveJob.
const ExclusiveJobName = "redlease.ExclusiveJob"

// JobRequest is the input of ExclusiveJob.
type JobRequest struct {
	// Resource to hold while the job runs.
	Resource string
	// Activity is the registered name of the job's activity. It is called
	// with (activities.LeaseInfo, Input) and must run its work through
	// activities.Run.
	Activity string
	// Input is passed to the activity as its second argument.
	Input any
	// Lease configures the lease; zero fields take WithLease's defaults.
	Lease LeaseOptions
}

// ExclusiveJob runs req.Activity while holding req.Resource, releasing it
// afterwards whatever happens, and returns the activity's result.
func ExclusiveJob(ctx workflow.Context, req JobRequest) (any, error) {
	var result any
	err := WithLease(ctx, req.Resource, req.Lease, func(ctx workflow.Context, lease activities.LeaseInfo) error {
		// The job's only section is its last: it releases the lease itself,
		// and the next job starts without waiting for this workflow.
		return workflow.ExecuteActivity(ctx, req.Activity, lease.AsLast(), req.Input).Get(ctx, &result)
	})
	return result, err
}

// Register registers ExclusiveJob under ExclusiveJobName.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(ExclusiveJob, workflow.RegisterOptions{Name: ExclusiveJobName})
}
