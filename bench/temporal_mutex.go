package main

import (
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Temporal's own pattern for mutual exclusion, written here for the
// comparison: one long-lived mutex workflow per resource, driven by
// signals. A requester signals-with-start the mutex workflow ("acquire",
// with its own workflow ID), waits for the "granted" signal, runs its
// critical section, and signals "release".
const (
	mutexWorkflowName     = "bench.MutexWorkflow"
	requesterWorkflowName = "bench.MutexRequester"
	requestLockName       = "bench.RequestLock"
	signalAcquire         = "acquire"
	signalGranted         = "granted"
	signalRelease         = "release"
)

// mutexWorkflow grants the lock to one requester at a time, in order of
// arrival, and ends after idle with nobody waiting.
func mutexWorkflow(ctx workflow.Context, idle time.Duration) error {
	requests := workflow.GetSignalChannel(ctx, signalAcquire)
	releases := workflow.GetSignalChannel(ctx, signalRelease)
	for {
		var requester string
		timedOut := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(requests, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &requester) })
		sel.AddFuture(workflow.NewTimer(ctx, idle), func(workflow.Future) { timedOut = true })
		sel.Select(ctx)
		if timedOut {
			if requests.ReceiveAsync(&requester) {
				// a request arrived with the timer: serve it
			} else {
				return nil
			}
		}
		if err := workflow.SignalExternalWorkflow(ctx, requester, "", signalGranted, nil).Get(ctx, nil); err != nil {
			continue // the requester is gone
		}
		releases.Receive(ctx, nil)
	}
}

// requesterWorkflow takes the mutex of resource, runs section, releases.
func requesterWorkflow(ctx workflow.Context, resource string, cs time.Duration) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	mutexID := "mutex-" + resource
	self := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := workflow.ExecuteActivity(ctx, requestLockName, mutexID, self).Get(ctx, nil); err != nil {
		return err
	}
	workflow.GetSignalChannel(ctx, signalGranted).Receive(ctx, nil)
	err := workflow.ExecuteActivity(ctx, plainSectionName, cs).Get(ctx, nil)
	if sigErr := workflow.SignalExternalWorkflow(ctx, mutexID, "", signalRelease, nil).Get(ctx, nil); err == nil {
		err = sigErr
	}
	return err
}

// lockRequester is the activity that signals-with-starts the mutex workflow.
type lockRequester struct {
	client    client.Client
	taskQueue string
}

func (r *lockRequester) RequestLock(ctx context.Context, mutexID, requester string) error {
	_, err := r.client.SignalWithStartWorkflow(ctx, mutexID, signalAcquire, requester,
		client.StartWorkflowOptions{ID: mutexID, TaskQueue: r.taskQueue, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}},
		mutexWorkflowName, 5*time.Second)
	return err
}
