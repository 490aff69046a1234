package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/client"
)

const (
	taskQueue = "redlease-demo"
	storeName = "demo"
	resource  = "printer-7"
)

// run starts the stack, the jobs and the crash, prints the summary, and
// stops everything.
func run(ctx context.Context, o options, out io.Writer) (err error) {
	s, err := startStack(ctx, o)
	defer func() {
		o.progress("stopping the stack")
		err = errors.Join(err, s.stop())
	}()
	if err != nil {
		return err
	}
	c := s.temporal.Client()
	ids := make([]string, o.jobs)
	started := time.Now()
	for i := range ids {
		ids[i] = fmt.Sprintf("job-%d", i+1)
		req := workflows.JobRequest{
			Resource: resource,
			Activity: exclusivejob.StepsName,
			Input:    exclusivejob.StepsInput{Steps: o.steps, StepDuration: o.step},
			// The scope's keeper extends the lease between activities, so
			// the TTL only has to outlast the heartbeat timeout plus the
			// extension interval (the timing rule: 6 s > 2 s + 1 s). The
			// takeover after the crash comes after the 2 s heartbeat timeout.
			// AcquireInSection: each job's section waits for the resource in
			// Redis, so a handoff needs no workflow task (after the crash,
			// one cached on the dead worker would wait for the sticky
			// queue's timeout first).
			Lease: workflows.LeaseOptions{TTL: 6 * time.Second, HeartbeatTimeout: 2 * time.Second, AcquireInSection: true},
		}
		if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: ids[i], TaskQueue: taskQueue}, workflows.ExclusiveJobName, req); err != nil {
			return fmt.Errorf("start %s: %w", ids[i], err)
		}
	}
	o.progress("started %d ExclusiveJob workflows on %q (%d steps of %v each); they must take turns", o.jobs, resource, o.steps, o.step)

	store := fencedstore.New(s.redis.Nodes[5].Client, storeName)
	crash, err := crashMidSection(ctx, o, s, store, ids[0])
	if err != nil {
		return err
	}
	results := make(map[string]exclusivejob.StepsResult, len(ids))
	for _, id := range ids {
		var r exclusivejob.StepsResult
		if err := c.GetWorkflow(ctx, id, "").Get(ctx, &r); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		results[id] = r
		o.progress("%s completed (token %d)", id, r.Token)
	}
	entries, err := store.Log(ctx)
	if err != nil {
		return err
	}
	if _, err := fencedstore.Check(entries); err != nil {
		return fmt.Errorf("the fenced store's log shows a violation: %w", err)
	}
	for i, n := range s.redis.Nodes[:5] {
		v, err := n.Client.Get(ctx, "redlease:{"+resource+"}:lock").Result()
		if err == nil && !strings.HasSuffix(v, "#") { // a value ending in '#' is a release tombstone
			return fmt.Errorf("node %d still holds a lock on %s after all jobs", i, resource)
		}
	}
	printSummary(out, started, entries, crash, results)
	page, err := writeTimeline(s.dir, started, ids, entries, crash)
	if err != nil {
		return err
	}
	ui := "up until Ctrl-C"
	if !o.keep {
		ui = "stopped with the demo; `make demo DEMO_FLAGS=-keep` keeps it up"
	}
	fmt.Fprintf(out, "\nTemporal web UI:  http://%s/namespaces/default/workflows (%s)\n", uiAddress(s, o), ui)
	fmt.Fprintf(out, "Traces (JSON, one span per line; redlease.* spans nest under RunActivity):\n")
	for _, w := range s.workers {
		fmt.Fprintf(out, "  %s\n", w.traces)
	}
	fmt.Fprintf(out, "Logs:             %s\n", s.dir)
	fmt.Fprintf(out, "Timeline:         %s (who held %s when: open it in a browser)\n", page, resource)
	if o.keep {
		fmt.Fprintf(out, "Inspect it:       go run ./cmd/redlease status %s -redis %s -temporal-ui http://%s\n", resource, s.leaseURLs(), uiAddress(s, o))
		fmt.Fprintf(out, "                  go run ./cmd/redlease doctor -redis %s\n", s.leaseURLs())
		fmt.Fprintln(out, "\nThe stack stays up; press Ctrl-C to stop it.")
		<-ctx.Done()
	}
	return nil
}

// crash describes the SIGKILL the demo injected.
type crash struct {
	workflow string
	worker   string
	atStep   int
	token    int64
	at       time.Time
}

// crashMidSection waits until the first job has written a few steps, then
// SIGKILLs the worker process running its critical section.
func crashMidSection(ctx context.Context, o options, s *stack, store *fencedstore.Store, id string) (crash, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		entries, err := store.Log(ctx)
		if err != nil {
			return crash{}, err
		}
		// Two thirds in.
		if n := len(entries); n >= o.steps*2/3 {
			first := entries[0].Holder
			desc, err := s.temporal.Client().DescribeWorkflowExecution(ctx, first, "")
			if err != nil {
				return crash{}, err
			}
			for _, pa := range desc.GetPendingActivities() {
				if pa.GetActivityType().GetName() != exclusivejob.StepsName {
					continue // the scope's keeper
				}
				pid, _ := strconv.Atoi(strings.SplitN(pa.GetLastWorkerIdentity(), "@", 2)[0])
				if w := s.byPID(pid); w != nil {
					last := entries[n-1]
					o.progress("%s is at step %d with token %d on %s: killing %s with SIGKILL", first, last.Step, last.Token, w.name, w.name)
					w.kill()
					return crash{workflow: first, worker: w.name, atStep: last.Step, token: last.Token, at: time.Now()}, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return crash{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return crash{}, fmt.Errorf("%s never got far enough to crash its worker", id)
}

func uiAddress(s *stack, o options) string {
	host, _, _ := strings.Cut(s.temporal.FrontendHostPort(), ":")
	return host + ":" + o.uiPort
}
