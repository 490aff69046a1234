package permitpool

import (
	"context"
	"fmt"
	"time"

	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// CallName is the activity name of Call.
const CallName = "permitpool.Call"

// CallInput is one call to the API: it lasts Duration.
type CallInput struct {
	Call     int // its number within the workflow, for the log
	Duration time.Duration
}

// CallResult says which attempt made the call, and with what.
type CallResult struct {
	Slot       int
	Token      int64
	Attempt    int32
	InFlight   int // calls in flight when this one entered
	WorkflowID string
}

// Activities makes the calls; Leases and Pool are required.
type Activities struct {
	Leases *activities.Activities
	Pool   *Pool
}

// Register registers Call under CallName.
func (a *Activities) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(a.Call, activity.RegisterOptions{Name: CallName})
}

// Call makes one call to the API as a critical section of the workflow's
// permit (activities.Run): it enters the pool on the permit's slot with
// this attempt's token, works for in.Duration, and exits. A retried
// attempt (its worker died mid-call) enters again with a higher token on
// the same slot; the dead attempt, were it still running, is refused.
func (a *Activities) Call(ctx context.Context, permit activities.LeaseInfo, in CallInput) (CallResult, error) {
	if in.Duration < 0 || !permit.IsPermit() {
		return CallResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("bad call %+v with %+v: Duration must not be negative, and the LeaseInfo must be a permit's", in, permit), "BadCall", nil)
	}
	info := activity.GetInfo(ctx)
	holder := info.WorkflowExecution.ID
	return activities.Run(ctx, a.Leases, permit, func(ctx context.Context, s *activities.Section) (CallResult, error) {
		n, err := a.Pool.Enter(ctx, permit.Slot, s.Token(), holder, in.Call)
		if err != nil {
			return CallResult{}, err
		}
		select {
		case <-ctx.Done():
			// The call is abandoned (cancelled, or the permit lost): end it
			// at the API, fenced as ever — a fenced-out attempt is refused.
			ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_, _ = a.Pool.Exit(ectx, permit.Slot, s.Token(), holder, in.Call)
			return CallResult{}, ctx.Err()
		case <-time.After(in.Duration):
		}
		if _, err := a.Pool.Exit(ctx, permit.Slot, s.Token(), holder, in.Call); err != nil {
			return CallResult{}, err
		}
		return CallResult{Slot: permit.Slot, Token: s.Token(), Attempt: info.Attempt, InFlight: n, WorkflowID: holder}, nil
	})
}
