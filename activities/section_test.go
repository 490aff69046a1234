package activities_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// newLeases starts n real redis-server nodes, a lease.Client and the
// activities over them.
func newLeases(t *testing.T, n int) (*activities.Activities, *lease.Client, *leasetest.Cluster) {
	t.Helper()
	cluster := leasetest.Start(t, n)
	client, err := lease.New(cluster.LeaseNodes(), lease.WithNodeTimeout(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	acts, err := activities.New(client)
	if err != nil {
		t.Fatal(err)
	}
	return acts, client, cluster
}

// newScope describes a new scope of a workflow run on resource.
func newScope(resource, run string, ttl time.Duration) activities.LeaseInfo {
	return activities.NewLeaseInfo(resource, "ns", "wf", run, "", lease.NewEpoch(uint64(time.Now().UnixNano()), 0), "nonce", ttl)
}

// startedScope is a scope that AcquireLease would have returned.
func startedScope(t *testing.T, client *lease.Client, resource string, ttl time.Duration) activities.LeaseInfo {
	t.Helper()
	info := newScope(resource, "run-"+t.Name(), ttl)
	grant, err := client.AcquireScope(context.Background(), resource, info.Owner, lease.ScopeFirst(), lease.ScopeTTL(ttl))
	if err != nil {
		t.Fatal(err)
	}
	info.Token = grant.Token
	return info
}

// heartbeats collects the heartbeats an activity environment sends.
type heartbeats struct {
	mu   sync.Mutex
	seen []converter.EncodedValues
}

func (h *heartbeats) listen(_ *activity.Info, d converter.EncodedValues) {
	h.mu.Lock()
	h.seen = append(h.seen, d)
	h.mu.Unlock()
}

func (h *heartbeats) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seen)
}

func (h *heartbeats) first(t *testing.T) converter.EncodedValues {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		t.Fatal("no heartbeat was sent")
	}
	return h.seen[0]
}

func activityEnv() (*testsuite.TestActivityEnvironment, *heartbeats) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	hbs := &heartbeats{}
	env.SetOnActivityHeartbeatListener(hbs.listen)
	return env, hbs
}

// waitForHeartbeat waits up to 20 s for the first heartbeat of an activity
// that runs in the background and must not end before it.
func waitForHeartbeat[R any](t *testing.T, hbs *heartbeats, done <-chan R) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for hbs.count() == 0 {
		select {
		case r := <-done:
			t.Fatalf("the activity ended before any heartbeat: %+v", r)
		case <-deadline:
			t.Fatal("no heartbeat within 20 s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// runSection runs fn as a section activity of info and returns its error.
func runSection(acts *activities.Activities, info activities.LeaseInfo, fn func(ctx context.Context, s *activities.Section) (string, error)) error {
	env, _ := activityEnv()
	step := func(ctx context.Context, info activities.LeaseInfo) (string, error) {
		return activities.Run(ctx, acts, info, fn)
	}
	env.RegisterActivity(step)
	_, err := env.ExecuteActivity(step, info)
	return err
}

func isType(err error, typ string, retryable bool) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == typ && appErr.NonRetryable() == !retryable
}

// A retried attempt resumes from the last progress the previous attempt
// saved — every save, not the last heartbeat that reached the server —
// with a higher token.
func TestRetryResumesFromTheLastSavedProgress(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	info := startedScope(t, client, "ledger", 10*time.Second)
	var mu sync.Mutex
	var tokens []int64
	step := func(ctx context.Context, info activities.LeaseInfo) (int, error) {
		return activities.Run(ctx, acts, info, func(ctx context.Context, s *activities.Section) (int, error) {
			mu.Lock()
			tokens = append(tokens, s.Token())
			mu.Unlock()
			if activity.GetInfo(ctx).Attempt == 1 {
				if s.LastProgress(new(int)) {
					return 0, errors.New("progress on the first attempt")
				}
				for i := 1; i <= 7; i++ {
					if err := s.Progress(i); err != nil {
						return 0, err
					}
				}
				return 0, errors.New("crash after step 7")
			}
			var last int
			if !s.LastProgress(&last) {
				return -1, nil
			}
			return last, nil
		})
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(step, activity.RegisterOptions{Name: "Step"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) (int, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: 5 * time.Second})
		var at int
		err := workflow.ExecuteActivity(ctx, "Step", info).Get(ctx, &at)
		return at, err
	}, workflow.RegisterOptions{Name: "wf"})
	env.ExecuteWorkflow("wf")
	var at int
	if err := env.GetWorkflowResult(&at); err != nil {
		t.Fatal(err)
	}
	if at != 7 {
		t.Fatalf("the retry resumed at %d, want 7", at)
	}
	if len(tokens) != 2 || tokens[1] <= tokens[0] {
		t.Fatalf("tokens %v: want two, increasing", tokens)
	}
}

// A newer attempt fences out one still running: the older attempt's saves
// are refused, its context is cancelled, and it fails with LeaseLost.
func TestNewerAttemptFencesOutTheRunningOne(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	info := startedScope(t, client, "ledger", 3*time.Second)
	started := make(chan int64, 1)
	var saveErr, cause error
	zombie := make(chan error, 1)
	go func() {
		zombie <- runSection(acts, info, func(ctx context.Context, s *activities.Section) (string, error) {
			started <- s.Token()
			for i := 0; ; i++ {
				if err := s.Progress(i); err != nil {
					saveErr = err
					<-ctx.Done()
					cause = context.Cause(ctx)
					return "", ctx.Err()
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}()
	old := <-started
	var newer int64
	if err := runSection(acts, info, func(ctx context.Context, s *activities.Section) (string, error) {
		newer = s.Token()
		return "", nil
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-zombie:
		if !activities.IsLeaseLost(err) || !activities.IsLeaseLost(saveErr) || !errors.Is(cause, lease.ErrLost) {
			t.Fatalf("zombie: activity %v, save %v, cause %v; want LeaseLost, LeaseLost, ErrLost", err, saveErr, cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the older attempt was not fenced out")
	}
	if newer <= old {
		t.Fatalf("newer attempt's token %d is not above %d", newer, old)
	}
}

// Once another holder held the resource after the scope's lock expired,
// no section of the scope runs again — the lock is free again by then —
// and a running keeper reports LeaseLost.
func TestSectionNeverResumesAfterAnotherHolder(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	info := startedScope(t, client, "ledger", time.Second)
	time.Sleep(1200 * time.Millisecond) // nobody keeps it: the lock expires
	other, err := client.Acquire(ctx, "ledger", lease.WithHolder("wf/other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	ran := false
	err = runSection(acts, info, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil })
	if ran || !isType(err, activities.ErrorTypeLeaseLost, false) {
		t.Fatalf("section ran: %v, error %v; want no run and a non-retryable LeaseLost", ran, err)
	}
	env, _ := activityEnv()
	acts.Register(env)
	if _, err := env.ExecuteActivity(activities.KeepName, info); !isType(err, activities.ErrorTypeLeaseLost, false) {
		t.Fatalf("keeper: %v, want LeaseLost", err)
	}
}

// An expiry nobody used is not a loss: the next section continues the
// scope, with a higher token.
func TestSectionContinuesAfterAnUnusedExpiry(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	info := startedScope(t, client, "ledger", time.Second)
	time.Sleep(1200 * time.Millisecond)
	var token int64
	if err := runSection(acts, info, func(_ context.Context, s *activities.Section) (string, error) { token = s.Token(); return "", nil }); err != nil {
		t.Fatal(err)
	}
	if token <= info.Token {
		t.Fatalf("token %d, not above the acquisition's %d", token, info.Token)
	}
}

// Only proof of loss is final: with 2 of 5 nodes down and a stray lock of
// another owner on a third, a section attempt fails retryably, not with
// LeaseLost. (This used to be a non-retryable LeaseLost.)
func TestSectionWithNodesDownIsRetryable(t *testing.T) {
	acts, client, cluster := newLeases(t, 5)
	ctx := context.Background()
	info := startedScope(t, client, "ledger", 10*time.Second)
	// The acquisition returns at a quorum and heals the others in the
	// background: let every node carry the scope before two die.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		all := true
		for _, n := range cluster.Nodes {
			all = all && n.Client.Get(ctx, "redlease:{ledger}:lock").Val() == info.Owner
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scope's lock did not reach every node within 5 s")
		}
	}
	for _, n := range cluster.Nodes[:2] {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.Nodes[2].Client.Set(ctx, "redlease:{ledger}:lock", "stray", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ran := false
	err := runSection(acts, info, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil })
	var appErr *temporal.ApplicationError
	if err == nil || ran || activities.IsLeaseLost(err) || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		t.Fatalf("error %v (section ran: %v): want a retryable error, not LeaseLost", err, ran)
	}
	// With the stray lock gone, 3 of 5 nodes carry the scope: it runs.
	if err := cluster.Nodes[2].Client.Del(ctx, "redlease:{ledger}:lock").Err(); err != nil {
		t.Fatal(err)
	}
	if err := runSection(acts, info, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil }); err != nil || !ran {
		t.Fatalf("with 3 of 5 nodes: ran %v, error %v", ran, err)
	}
}

// A section whose worker cannot reach a quorum stops when the lease's
// validity passes, with a retryable LeaseUnconfirmed: unreachable nodes are
// no proof that the scope lost the resource.
func TestUnreachableNodesStopTheSectionRetryably(t *testing.T) {
	acts, client, cluster := newLeases(t, 3)
	info := startedScope(t, client, "ledger", 1500*time.Millisecond)
	var cause error
	err := runSection(acts, info, func(ctx context.Context, s *activities.Section) (string, error) {
		for _, n := range cluster.Nodes[:2] {
			if err := n.Pause(); err != nil {
				return "", err
			}
			defer n.Resume()
		}
		select {
		case <-ctx.Done():
			cause = context.Cause(ctx)
			return "", ctx.Err()
		case <-time.After(30 * time.Second):
			return "the section was never stopped", nil
		}
	})
	if !isType(err, activities.ErrorTypeUnconfirmed, true) || cause == nil {
		t.Fatalf("error %v, cause %v: want a retryable %s", err, cause, activities.ErrorTypeUnconfirmed)
	}
}

// A proven loss while the section runs (the lock gone from every node and
// another holder in) cancels the section with cause ErrLost and fails it
// with a non-retryable LeaseLost.
func TestLossDuringTheSectionCancelsIt(t *testing.T) {
	acts, client, cluster := newLeases(t, 3)
	ctx := context.Background()
	info := startedScope(t, client, "ledger", 1500*time.Millisecond)
	var cause error
	err := runSection(acts, info, func(sctx context.Context, s *activities.Section) (string, error) {
		for _, n := range cluster.Nodes {
			if err := n.Client.Del(ctx, "redlease:{ledger}:lock").Err(); err != nil {
				return "", err
			}
		}
		if _, err := client.Acquire(ctx, "ledger"); err != nil {
			return "", err
		}
		select {
		case <-sctx.Done():
			cause = context.Cause(sctx)
			return "", sctx.Err()
		case <-time.After(30 * time.Second):
			return "the section was never cancelled", nil
		}
	})
	if !isType(err, activities.ErrorTypeLeaseLost, false) || !errors.Is(cause, lease.ErrLost) {
		t.Fatalf("error %v, cause %v: want LeaseLost and ErrLost", err, cause)
	}
}

// The keeper holds the scope however long nothing else runs — several
// TTLs — so nobody else acquires it; cancelled, it ends.
func TestKeeperHoldsTheScopeBetweenSections(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	info := startedScope(t, client, "ledger", time.Second)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		env, _ := activityEnv()
		env.SetWorkerOptions(activityWorkerOptions(cctx))
		acts.Register(env)
		_, err := env.ExecuteActivity(activities.KeepName, info)
		done <- err
	}()
	deadline := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if l, err := client.Acquire(ctx, "ledger"); err == nil {
			_ = l.Release(ctx)
			t.Fatal("another holder acquired the resource while the keeper ran")
		}
		time.Sleep(100 * time.Millisecond)
	}
	var token int64
	if err := runSection(acts, info, func(_ context.Context, s *activities.Section) (string, error) { token = s.Token(); return "", nil }); err != nil {
		t.Fatalf("a section after 3.5 TTLs of keeping: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the keeper ended without error; want its cancellation")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keeper did not end when cancelled")
	}
	if token <= info.Token {
		t.Fatalf("section token %d not above %d", token, info.Token)
	}
}

// ReleaseLease ends the scope for good: idempotent, it spares another
// holder, and no late attempt of the scope runs afterwards, even once the
// tombstone has expired.
func TestReleaseLeaseEndsTheScope(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	env, _ := activityEnv()
	acts.Register(env)
	req := activities.AcquireRequest{Lease: newScope("ledger", "run-1", time.Second)}
	val, err := env.ExecuteActivity(activities.AcquireName, req)
	if err != nil {
		t.Fatal(err)
	}
	var info activities.LeaseInfo
	if err := val.Get(&info); err != nil || info.Token == 0 {
		t.Fatalf("acquired %+v, %v", info, err)
	}
	for i := range 2 {
		if _, err := env.ExecuteActivity(activities.ReleaseName, info); err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
	}
	other, err := client.Acquire(ctx, "ledger", lease.WithHolder("wf/other"))
	if err != nil {
		t.Fatalf("the resource is not free after the release: %v", err)
	}
	if other.Token() <= info.Token {
		t.Fatalf("next holder's token %d is not above %d", other.Token(), info.Token)
	}
	if _, err := env.ExecuteActivity(activities.ReleaseName, info); err != nil {
		t.Fatalf("release after another holder took over: %v", err)
	}
	if err := other.Extend(ctx); err != nil {
		t.Fatalf("a stale release disturbed the other holder: %v", err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the tombstone expires
	ran := false
	err = runSection(acts, info, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil })
	if ran || !isType(err, activities.ErrorTypeReleased, false) {
		t.Fatalf("late attempt after the release: ran %v, error %v; want a non-retryable %s", ran, err, activities.ErrorTypeReleased)
	}
}

// AcquireLease waits for a held resource, heartbeating while it waits (so
// Temporal can cancel the wait), and gets it, with a higher token, once the
// holder releases it.
func TestAcquireLeaseHeartbeatsWhileWaiting(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	holder, err := client.Acquire(ctx, "ledger", lease.WithHolder("wf/first"))
	if err != nil {
		t.Fatal(err)
	}
	env, hbs := activityEnv()
	acts.Register(env)
	type result struct {
		info activities.LeaseInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		val, err := env.ExecuteActivity(activities.AcquireName, activities.AcquireRequest{Lease: newScope("ledger", "run-w", 10*time.Second), Wait: time.Minute})
		if r.err = err; err == nil {
			r.err = val.Get(&r.info)
		}
		done <- r
	}()
	waitForHeartbeat(t, hbs, done)
	var waiting activities.Waiting
	if err := hbs.first(t).Get(&waiting); err != nil || waiting.Waiting != "ledger" || waiting.Attempts < 1 {
		t.Fatalf("waiting heartbeat %+v (%v)", waiting, err)
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.info.Token <= holder.Token() || r.info.Resource != "ledger" {
			t.Fatalf("lease info %+v after a holder with token %d", r.info, holder.Token())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("AcquireLease did not return after the release")
	}
}

// Acquire-and-run: a section of a scope not yet acquired waits for the
// resource, heartbeating, and runs once it is free.
func TestAcquireInSectionWaitsForTheResource(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	holder, err := client.Acquire(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	env, hbs := activityEnv()
	step := func(ctx context.Context, info activities.LeaseInfo) (int64, error) {
		return activities.Run(ctx, acts, info, func(_ context.Context, s *activities.Section) (int64, error) { return s.Token(), nil })
	}
	env.RegisterActivity(step)
	done := make(chan error, 1)
	var token int64
	go func() {
		val, err := env.ExecuteActivity(step, newScope("ledger", "run-s", 10*time.Second))
		if err == nil {
			err = val.Get(&token)
		}
		done <- err
	}()
	waitForHeartbeat(t, hbs, done)
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || token <= holder.Token() {
			t.Fatalf("section: token %d, error %v (holder's token %d)", token, err, holder.Token())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the section did not run after the release")
	}
}

// activityWorkerOptions makes ctx the parent of the activities' contexts:
// cancelling it cancels them, as a workflow's cancellation would.
func activityWorkerOptions(ctx context.Context) worker.Options {
	return worker.Options{BackgroundActivityContext: ctx}
}

// The scope's last section releases the lease as soon as its function
// succeeded: the next holder gets the resource at once, the keeper ends
// without error, and no later section of the scope runs.
func TestLastSectionReleasesTheScope(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	info := startedScope(t, client, "ledger", 10*time.Second)
	if err := runSection(acts, info.AsLast(), func(context.Context, *activities.Section) (string, error) { return "", nil }); err != nil {
		t.Fatal(err)
	}
	next, err := client.Acquire(ctx, "ledger")
	if err != nil {
		t.Fatalf("the next holder after the last section: %v", err)
	}
	defer next.Release(ctx)
	env, _ := activityEnv()
	acts.Register(env)
	if _, err := env.ExecuteActivity(activities.KeepName, info); err != nil {
		t.Fatalf("keeper after the scope's release: %v, want a normal end", err)
	}
	ran := false
	err = runSection(acts, info, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil })
	if ran || !isType(err, activities.ErrorTypeReleased, false) {
		t.Fatalf("a section after the last one: ran %v, error %v; want a non-retryable %s", ran, err, activities.ErrorTypeReleased)
	}
	// A last section that fails releases nothing.
	info2 := startedScope(t, client, "ledger-2", 10*time.Second)
	_ = runSection(acts, info2.AsLast(), func(context.Context, *activities.Section) (string, error) { return "", errors.New("boom") })
	if _, err := client.Acquire(ctx, "ledger-2"); err == nil {
		t.Fatal("a failed last section released the lease")
	}
}

// A keeper that cannot get a quorum to extend the lease (a majority of
// nodes paused) ends its attempt at once with a retryable error — so
// Temporal restarts it without waiting for a heartbeat the SDK buffered —
// and never calls that a loss.
func TestKeeperWithoutQuorumEndsItsAttemptRetryably(t *testing.T) {
	acts, client, cluster := newLeases(t, 3)
	info := startedScope(t, client, "ledger", 10*time.Second)
	for _, n := range cluster.Nodes[:2] {
		if err := n.Pause(); err != nil {
			t.Fatal(err)
		}
		defer n.Resume()
	}
	env, hbs := activityEnv()
	acts.Register(env)
	start := time.Now()
	_, err := env.ExecuteActivity(activities.KeepName, info)
	var appErr *temporal.ApplicationError
	if err == nil || activities.IsLeaseLost(err) || (errors.As(err, &appErr) && appErr.NonRetryable()) ||
		!strings.Contains(err.Error(), "not kept by a quorum") {
		t.Fatalf("keeper without quorum: %v, want its retryable \"not kept by a quorum\"", err)
	}
	if hbs.count() != 0 {
		t.Fatalf("the keeper heartbeated %d times without a quorum", hbs.count())
	}
	t.Logf("keeper attempt ended after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
