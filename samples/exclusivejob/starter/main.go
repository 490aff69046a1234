// Command starter starts several ExclusiveJob workflows on one resource at
// the same time, waits for them, and checks the fenced store's log: the
// jobs must have taken turns, with strictly increasing tokens.
//
//	go run ./samples/exclusivejob/starter -store redis://127.0.0.1:7000 [-jobs 3 -steps 20 -step 200ms]
//
// It needs a Temporal server (TEMPORAL_ADDRESS, default 127.0.0.1:7233)
// and a worker started with the same store (go run ./worker -redis ...
// -store-redis ...); see the README next to this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/samples/internal/starter"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/client"
)

func main() {
	var common starter.Flags
	common.Register(flag.CommandLine)
	resource := flag.String("resource", "printer-7", "the resource the jobs contend for")
	jobs := flag.Int("jobs", 3, "workflows to start at once")
	steps := flag.Int("steps", 20, "steps per job")
	step := flag.Duration("step", 200*time.Millisecond, "duration of a step")
	flag.Parse()
	if common.StoreURL == "" || *jobs < 1 || *steps < 1 || *step < 0 {
		fmt.Fprintln(os.Stderr, "starter: -store is required; -jobs and -steps must be positive")
		os.Exit(2)
	}
	if err := run(&common, *resource, *jobs, *steps, *step); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func run(common *starter.Flags, resource string, jobs, steps int, step time.Duration) error {
	ctx := context.Background()
	rdb, err := common.Store()
	if err != nil {
		return err
	}
	defer rdb.Close()
	store := fencedstore.New(rdb, common.StoreName)
	before, err := store.Log(ctx)
	if err != nil {
		return err
	}

	c, err := common.Temporal()
	if err != nil {
		return err
	}
	defer c.Close()
	runs := make([]client.WorkflowRun, jobs)
	stamp := time.Now().Format("150405")
	for i := range runs {
		req := workflows.JobRequest{
			Resource: resource,
			Activity: exclusivejob.StepsName,
			Input:    exclusivejob.StepsInput{Steps: steps, StepDuration: step},
			Lease:    workflows.LeaseOptions{TTL: 15 * time.Second, HeartbeatTimeout: 5 * time.Second},
		}
		id := fmt.Sprintf("exclusivejob-%s-%d", stamp, i+1)
		if runs[i], err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: common.Queue}, workflows.ExclusiveJobName, req); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
		fmt.Printf("started %s\n", id)
	}
	for _, r := range runs {
		var res exclusivejob.StepsResult
		if err := r.Get(ctx, &res); err != nil {
			return fmt.Errorf("%s: %w", r.GetID(), err)
		}
		fmt.Printf("%s done: %d steps, token %d, attempt %d\n", r.GetID(), res.Steps, res.Token, res.Attempt)
	}
	after, err := store.Log(ctx)
	if err != nil {
		return err
	}
	order, err := fencedstore.Check(after[len(before):])
	if err != nil {
		return fmt.Errorf("the store's log shows overlapping jobs: %w", err)
	}
	fmt.Printf("the jobs held %q in turn, never overlapping: %v\n", resource, order)
	return nil
}
