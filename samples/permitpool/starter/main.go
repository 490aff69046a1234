// Command starter starts N permitpool workflows that share K permits of one
// API, waits for them, and checks the API's log: never more than K calls
// in flight, each permit slot's tokens in order, no call left open.
//
//	go run ./samples/permitpool/starter -store redis://127.0.0.1:7000 [-workflows 10 -limit 3 -calls 3 -call 500ms]
//
// It needs a Temporal server (TEMPORAL_ADDRESS, default 127.0.0.1:7233)
// and a worker started with the same store (go run ./worker -redis ...
// -store-redis ...); see the README next to this file. Every run on a
// resource must use the same -limit (the nodes record it).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/redlease/redlease/samples/internal/starter"
	"github.com/redlease/redlease/samples/permitpool"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/client"
)

func main() {
	var common starter.Flags
	common.Register(flag.CommandLine)
	resource := flag.String("resource", "partner-api", "the API the workflows share")
	n := flag.Int("workflows", 10, "workflows to start at once")
	limit := flag.Int("limit", 3, "permits: at most this many workflows call the API at once")
	calls := flag.Int("calls", 3, "calls per workflow, one critical section each")
	call := flag.Duration("call", 500*time.Millisecond, "duration of a call")
	flag.Parse()
	if common.StoreURL == "" || *n < 1 || *limit < 1 || *calls < 1 || *call < 0 {
		fmt.Fprintln(os.Stderr, "starter: -store is required; -workflows, -limit and -calls must be positive")
		os.Exit(2)
	}
	if err := run(&common, *resource, *n, *limit, *calls, *call); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func run(common *starter.Flags, resource string, n, limit, calls int, call time.Duration) error {
	ctx := context.Background()
	rdb, err := common.Store()
	if err != nil {
		return err
	}
	defer rdb.Close()
	pool := permitpool.New(rdb, common.StoreName)
	before, err := pool.Log(ctx)
	if err != nil {
		return err
	}

	c, err := common.Temporal()
	if err != nil {
		return err
	}
	defer c.Close()
	req := permitpool.Request{
		Resource: resource,
		Limit:    limit,
		Lease:    workflows.LeaseOptions{TTL: 15 * time.Second, HeartbeatTimeout: 5 * time.Second},
	}
	for i := range calls {
		req.Calls = append(req.Calls, permitpool.CallInput{Call: i, Duration: call})
	}
	runs := make([]client.WorkflowRun, n)
	stamp := time.Now().Format("150405")
	for i := range runs {
		id := fmt.Sprintf("permitpool-%s-%d", stamp, i+1)
		if runs[i], err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: common.Queue}, permitpool.WorkflowName, req); err != nil {
			return fmt.Errorf("start %s: %w", id, err)
		}
	}
	fmt.Printf("started %d workflows sharing %d permits of %q\n", n, limit, resource)
	for _, r := range runs {
		var res []permitpool.CallResult
		if err := r.Get(ctx, &res); err != nil {
			return fmt.Errorf("%s: %w", r.GetID(), err)
		}
		last := res[len(res)-1]
		fmt.Printf("%s done: %d calls on slot %d, last token %d, attempt %d\n", r.GetID(), len(res), last.Slot, last.Token, last.Attempt)
	}
	after, err := pool.Log(ctx)
	if err != nil {
		return err
	}
	most, err := permitpool.Check(after[len(before):], limit)
	if err != nil {
		return fmt.Errorf("the API's log: %w", err)
	}
	fmt.Printf("the API saw at most %d calls in flight (limit %d) over %d events\n", most, limit, len(after)-len(before))
	return nil
}
