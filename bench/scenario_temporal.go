package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// handoffGoal is the handoff p50 the fastest redlease shape must reach.
const handoffGoal = 5 * time.Millisecond

const (
	temporalQueue     = "bench-temporal"
	leasedSectionName = "bench.LeasedSection"
	plainSectionName  = "bench.PlainSection"
	leasedJobName     = "bench.LeasedJob"
)

// sections records when each workflow's critical section began and ended.
type sections struct {
	leases *activities.Activities
	mu     sync.Mutex
	spans  []sectionSpan
}

type sectionSpan struct {
	workflow   string
	begin, end time.Time
}

func (s *sections) record(ctx context.Context, cs time.Duration) {
	begin := time.Now()
	time.Sleep(cs)
	s.mu.Lock()
	s.spans = append(s.spans, sectionSpan{activity.GetInfo(ctx).WorkflowExecution.ID, begin, time.Now()})
	s.mu.Unlock()
}

func (s *sections) take() []sectionSpan {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.spans
	s.spans = nil
	return out
}

// LeasedSection is the critical section under a redlease lease.
func (s *sections) LeasedSection(ctx context.Context, l activities.LeaseInfo, cs time.Duration) error {
	_, err := activities.Run(ctx, s.leases, l, func(ctx context.Context, _ *activities.Section) (struct{}, error) {
		s.record(ctx, cs)
		return struct{}{}, nil
	})
	return err
}

// PlainSection is the critical section of the mutex-workflow pattern.
func (s *sections) PlainSection(ctx context.Context, cs time.Duration) error {
	s.record(ctx, cs)
	return nil
}

// leasedJob runs one critical section under WithLease.
func leasedJob(ctx workflow.Context, resource string, inSection bool, cs time.Duration) error {
	opts := workflows.LeaseOptions{TTL: 30 * time.Second, HeartbeatTimeout: 10 * time.Second, AcquireInSection: inSection}
	return workflows.WithLease(ctx, resource, opts, func(ctx workflow.Context, l activities.LeaseInfo) error {
		return workflow.ExecuteActivity(ctx, leasedSectionName, l.AsLast(), cs).Get(ctx, nil)
	})
}

// runTemporal measures the handoff between workflows contending for one
// resource on a real dev server: redlease's two shapes against Temporal's
// signal-driven mutex workflow.
func (b *bench) runTemporal(ctx context.Context) error {
	srv, err := devstack.StartTemporal(ctx, devstack.TemporalOptions{})
	if errors.Is(err, devstack.ErrNoTemporalCLI) {
		progress("skipping the Temporal scenario: %v", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	lc, err := lease.New(b.nodes[:mainNodes], lease.WithTTL(30*time.Second), lease.WithNodeTimeout(b.s.nodeTimeout))
	if err != nil {
		return err
	}
	defer lc.Close()
	acts, err := activities.New(lc)
	if err != nil {
		return err
	}
	secs := &sections{leases: acts}
	c := srv.Client()
	w := worker.New(c, temporalQueue, worker.Options{})
	acts.Register(w)
	w.RegisterActivityWithOptions(secs.LeasedSection, activity.RegisterOptions{Name: leasedSectionName})
	w.RegisterActivityWithOptions(secs.PlainSection, activity.RegisterOptions{Name: plainSectionName})
	req := &lockRequester{client: c, taskQueue: temporalQueue}
	w.RegisterActivityWithOptions(req.RequestLock, activity.RegisterOptions{Name: requestLockName})
	w.RegisterWorkflowWithOptions(leasedJob, workflow.RegisterOptions{Name: leasedJobName})
	w.RegisterWorkflowWithOptions(mutexWorkflow, workflow.RegisterOptions{Name: mutexWorkflowName})
	w.RegisterWorkflowWithOptions(requesterWorkflow, workflow.RegisterOptions{Name: requesterWorkflowName})
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()

	shapes := []struct {
		name  string
		start func(id, resource string) (client.WorkflowRun, error)
	}{
		{"redlease WithLease (acquire activity)", func(id, r string) (client.WorkflowRun, error) {
			return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalQueue}, leasedJobName, r, false, b.o.temporalCS)
		}},
		{"redlease WithLease, AcquireInSection", func(id, r string) (client.WorkflowRun, error) {
			return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalQueue}, leasedJobName, r, true, b.o.temporalCS)
		}},
		{"Temporal mutex workflow (signals)", func(id, r string) (client.WorkflowRun, error) {
			return c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: temporalQueue}, requesterWorkflowName, r, b.o.temporalCS)
		}},
	}
	t := newTable(fmt.Sprintf("7. Temporal: %d workflows contending for one resource, critical section %v, dev server, 5 nodes",
		b.o.temporalJobs, b.o.temporalCS), "shape", "sections", "handoff p50", "handoff p99", "handoff max", "overlaps", "wall time")
	var fastest time.Duration
	for i, shape := range shapes {
		resource := fmt.Sprintf("temporal-%d", i)
		start := time.Now()
		runs := make([]client.WorkflowRun, b.o.temporalJobs)
		for j := range runs {
			if runs[j], err = shape.start(fmt.Sprintf("%s-%d-%d", resource, j, start.UnixNano()), resource); err != nil {
				return err
			}
		}
		for _, r := range runs {
			if err := r.Get(ctx, nil); err != nil {
				return fmt.Errorf("%s: %s: %w", shape.name, r.GetID(), err)
			}
		}
		spans := secs.take()
		handoffs, overlaps := handoffGaps(spans)
		t.row(shape.name, len(spans), fmtDur(handoffs.p50()), fmtDur(handoffs.p99()), fmtDur(handoffs.pct(100)), overlaps, fmtDur(time.Since(start)))
		if i < 2 && (fastest == 0 || handoffs.p50() < fastest) { // redlease's shapes
			fastest = handoffs.p50()
		}
	}
	verdict := "PASS"
	if fastest > handoffGoal {
		verdict = "FAIL"
	}
	t.note("goal: redlease's fastest shape hands over in ≤ %v p50: %v, %s.", handoffGoal, fmtDur(fastest), verdict)
	t.note("handoff: from one critical section's end to the next one's start, as the section activities recorded them (same process clock).")
	t.note("AcquireInSection: the section activity acquires the lease itself (one activity round trip less per handoff).")
	t.note("Both redlease shapes hold a scope lease (a keeper activity runs beside the section) and mark their one section as the last, which releases the lease the moment it ends.")
	t.note("The mutex workflow is Temporal's signal-driven pattern (signal-with-start to acquire, a grant signal back, a release signal), written for this comparison.")
	t.print(os.Stdout)
	return ctx.Err()
}

// handoffGaps sorts sections by start and returns the gaps between each end
// and the next start, and how many sections started before the previous ended.
func handoffGaps(spans []sectionSpan) (samples, int) {
	slices.SortFunc(spans, func(a, b sectionSpan) int { return a.begin.Compare(b.begin) })
	gaps := newSamples()
	overlaps := 0
	for i := 1; i < len(spans); i++ {
		gap := spans[i].begin.Sub(spans[i-1].end)
		if gap < 0 {
			overlaps++
			continue
		}
		gaps.add(gap)
	}
	return merge([]samples{gaps}), overlaps
}
