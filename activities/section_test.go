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
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
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

// details is a test value that the pairConverter encodes as two heartbeat
// details, as Run records them (the test environment takes only one value).
type details struct {
	hb       activities.Heartbeat
	progress any
}

type pairConverter struct{ converter.DataConverter }

func (c pairConverter) ToPayloads(values ...any) (*commonpb.Payloads, error) {
	if len(values) == 1 {
		if d, ok := values[0].(details); ok {
			return c.DataConverter.ToPayloads(d.hb, d.progress)
		}
	}
	return c.DataConverter.ToPayloads(values...)
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

func (h *heartbeats) first(t *testing.T) converter.EncodedValues {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		t.Fatal("no heartbeat was sent")
	}
	return h.seen[0]
}

func sectionEnv(prev any) (*testsuite.TestActivityEnvironment, *heartbeats) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetDataConverter(pairConverter{converter.GetDefaultDataConverter()})
	if prev != nil {
		env.SetHeartbeatDetails(prev)
	}
	hbs := &heartbeats{}
	env.SetOnActivityHeartbeatListener(hbs.listen)
	return env, hbs
}

// resumeStep is a critical section that reports where it would resume.
func resumeStep(acts *activities.Activities) func(ctx context.Context, info activities.LeaseInfo) (int, error) {
	return func(ctx context.Context, info activities.LeaseInfo) (int, error) {
		return activities.Run(ctx, acts, info, func(ctx context.Context, s *activities.Section) (int, error) {
			var step int
			if !s.LastProgress(&step) {
				return -1, nil
			}
			return step, nil
		})
	}
}

// runResumeStep runs resumeStep in env and returns where it resumed.
func runResumeStep(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, info activities.LeaseInfo) int {
	t.Helper()
	step := resumeStep(acts)
	env.RegisterActivity(step)
	val, err := env.ExecuteActivity(step, info)
	if err != nil {
		t.Fatal(err)
	}
	var resumedAt int
	if err := val.Get(&resumedAt); err != nil {
		t.Fatal(err)
	}
	return resumedAt
}

func heldInfo(resource, holder string) activities.LeaseInfo {
	// A non-empty Owner makes Run take the lease over for holder.
	return activities.LeaseInfo{Resource: resource, Holder: holder, Owner: holder + "#earlier", TTL: 10 * time.Second}
}

// A retried attempt resumes from the previous attempt's progress and, until
// it records its own, carries that progress forward in its heartbeats: an
// attempt that dies early does not erase where its predecessor got to.
func TestRunResumesAndCarriesProgressForward(t *testing.T) {
	acts, _, _ := newLeases(t, 3)
	env, hbs := sectionEnv(details{activities.Heartbeat{Resource: "printer", Token: 5, HasProgress: true}, 7})
	if at := runResumeStep(t, env, acts, heldInfo("printer", "wf/1")); at != 7 {
		t.Fatalf("section resumed at %d, want 7", at)
	}
	var hb activities.Heartbeat
	var carried int
	if err := hbs.first(t).Get(&hb, &carried); err != nil {
		t.Fatal(err)
	}
	if carried != 7 || !hb.HasProgress || hb.Resource != "printer" || hb.Token <= 5 {
		t.Fatalf("first heartbeat %+v with progress %d: want progress 7 and a token above 5", hb, carried)
	}
}

// noRawValues is a data converter that cannot pass raw payloads through
// (it is not built on the SDK's CompositeDataConverter).
type noRawValues struct{ pairConverter }

func (c noRawValues) FromPayloads(payloads *commonpb.Payloads, ptrs ...any) error {
	for _, p := range ptrs {
		if _, ok := p.(*converter.RawValue); ok {
			return errors.New("no raw values here")
		}
	}
	return c.pairConverter.FromPayloads(payloads, ptrs...)
}

// With a data converter that cannot pass raw payloads through, a retried
// attempt still resumes from the previous progress; only the carrying
// forward (until the section's first Progress call) is not possible.
func TestRunResumesWithAConverterWithoutRawValues(t *testing.T) {
	acts, _, _ := newLeases(t, 3)
	env, hbs := sectionEnv(details{activities.Heartbeat{Resource: "printer", Token: 5, HasProgress: true}, 7})
	env.SetDataConverter(noRawValues{pairConverter{converter.GetDefaultDataConverter()}})
	if at := runResumeStep(t, env, acts, heldInfo("printer", "wf/1")); at != 7 {
		t.Fatalf("section resumed at %d, want 7", at)
	}
	var hb activities.Heartbeat
	if err := hbs.first(t).Get(&hb); err != nil || hb.HasProgress {
		t.Fatalf("first heartbeat %+v (%v): want no progress carried", hb, err)
	}
}

// In acquire-and-run mode (no AcquireLease before the section), the
// heartbeats of an attempt still waiting for the lease carry the previous
// attempts' progress too, so one that dies while waiting loses nothing.
func TestWaitingSectionCarriesProgressForward(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	holder, err := client.Acquire(ctx, "press", lease.WithHolder("wf/other"))
	if err != nil {
		t.Fatal(err)
	}
	env, hbs := sectionEnv(details{activities.Heartbeat{Resource: "press", HasProgress: true}, 7})
	step := resumeStep(acts)
	env.RegisterActivity(step)
	type result struct {
		step int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		val, err := env.ExecuteActivity(step, activities.LeaseInfo{Resource: "press", Holder: "wf/1", TTL: 10 * time.Second})
		if r.err = err; err == nil {
			r.err = val.Get(&r.step)
		}
		done <- r
	}()
	waitForHeartbeat(t, hbs, done)
	var waiting struct {
		Waiting     string
		HasProgress bool
	}
	var carried int
	if err := hbs.first(t).Get(&waiting, &carried); err != nil || waiting.Waiting != "press" || !waiting.HasProgress || carried != 7 {
		t.Fatalf("waiting heartbeat %+v with progress %d (%v): want press, progress 7", waiting, carried, err)
	}
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		if r.err != nil || r.step != 7 {
			t.Fatalf("section resumed at %d (%v), want 7", r.step, r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the section did not run after the release")
	}
}

// waitForHeartbeat waits up to 20 s for the first heartbeat of an activity
// that runs in the background and must not end before it.
func waitForHeartbeat[R any](t *testing.T, hbs *heartbeats, done <-chan R) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		hbs.mu.Lock()
		n := len(hbs.seen)
		hbs.mu.Unlock()
		if n > 0 {
			return
		}
		select {
		case r := <-done:
			t.Fatalf("the activity ended before its first heartbeat: %+v", r)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat within 20 s")
		}
	}
}

// Without a progress detail from an earlier attempt, LastProgress reports
// false (and does not decode a zero value as if it were progress).
func TestLastProgressIsFalseWithoutProgress(t *testing.T) {
	acts, _, _ := newLeases(t, 3)
	for name, prev := range map[string]any{
		"first attempt":                 nil,
		"earlier heartbeat, no details": activities.Heartbeat{Resource: "printer", Token: 5},
	} {
		t.Run(name, func(t *testing.T) {
			env, _ := sectionEnv(prev)
			if at := runResumeStep(t, env, acts, heldInfo("printer-"+name, "wf/1")); at != -1 {
				t.Fatalf("section resumed at %d, want -1 (no progress)", at)
			}
		})
	}
}

// Losing the lease during the section cancels the section's context with
// cause lease.ErrLost and fails the activity with a non-retryable LeaseLost.
func TestRunLeaseLossCancelsSectionAndIsNotRetryable(t *testing.T) {
	acts, _, cluster := newLeases(t, 3)
	env, _ := sectionEnv(nil)
	var cause error
	step := func(ctx context.Context, info activities.LeaseInfo) (string, error) {
		return activities.Run(ctx, acts, info, func(ctx context.Context, s *activities.Section) (string, error) {
			for _, n := range cluster.Nodes[:2] { // a majority: no extension can succeed
				if err := n.Kill(); err != nil {
					return "", err
				}
			}
			select {
			case <-ctx.Done():
				cause = context.Cause(ctx)
				return "", ctx.Err()
			case <-time.After(30 * time.Second):
				return "the section was never cancelled", nil
			}
		})
	}
	env.RegisterActivity(step)
	info := heldInfo("ledger", "wf/1")
	info.TTL = 1500 * time.Millisecond
	_, err := env.ExecuteActivity(step, info)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrorTypeLeaseLost || !appErr.NonRetryable() {
		t.Fatalf("activity error %v: want a non-retryable %s application error", err, activities.ErrorTypeLeaseLost)
	}
	if !errors.Is(cause, lease.ErrLost) {
		t.Fatalf("section context cause %v, want lease.ErrLost", cause)
	}
}

// Run never takes over another holder's lock: it fails with a
// non-retryable LeaseLost before the section runs, and the other holder's
// lock stays as it was.
func TestRunDoesNotTakeOverAnotherHolder(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	other, err := client.Acquire(ctx, "ledger", lease.WithHolder("wf/other"))
	if err != nil {
		t.Fatal(err)
	}
	ran, err := runEmptySection(acts, heldInfo("ledger", "wf/mine"))
	if !activities.IsLeaseLost(err) || ran {
		t.Fatalf("error %v, section ran: %v; want LeaseLost and no run", err, ran)
	}
	assertUndisturbed(t, other, "a refused takeover")
}

// ReleaseLease is idempotent: twice, and after another holder took the
// resource, it succeeds and leaves the other holder's lock alone.
func TestReleaseLeaseIsIdempotentAndSparesOtherHolders(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	acts.Register(env)

	val, err := env.ExecuteActivity(activities.AcquireName, activities.AcquireRequest{Resource: "ledger", TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var info activities.LeaseInfo
	if err := val.Get(&info); err != nil {
		t.Fatal(err)
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
	assertUndisturbed(t, other, "a stale ReleaseLease")
}

// assertUndisturbed checks that another holder's lease is still its own
// after what (it can extend it), then releases it.
func assertUndisturbed(t *testing.T, other *lease.Lease, what string) {
	t.Helper()
	if err := other.Extend(context.Background()); err != nil {
		t.Fatalf("the other holder's lease was disturbed by %s: %v", what, err)
	}
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// AcquireLease waits for a held resource, heartbeating while it waits (so
// Temporal can cancel the wait), and gets it, with a higher token, once the
// holder releases it. Without a heartbeat timeout it heartbeats every 5 s.
func TestAcquireLeaseHeartbeatsWhileWaiting(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	holder, err := client.Acquire(ctx, "ledger", lease.WithHolder("wf/first"))
	if err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	hbs := &heartbeats{}
	env.SetOnActivityHeartbeatListener(hbs.listen)
	acts.Register(env)
	type result struct {
		info activities.LeaseInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		val, err := env.ExecuteActivity(activities.AcquireName, activities.AcquireRequest{Resource: "ledger", Wait: time.Minute})
		if r.err = err; err == nil {
			r.err = val.Get(&r.info)
		}
		done <- r
	}()
	waitForHeartbeat(t, hbs, done)
	var waiting struct {
		Waiting  string
		Attempts int
	}
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
		if r.info.Token <= holder.Token() || r.info.Resource != "ledger" || r.info.Holder == "" {
			t.Fatalf("lease info %+v after a holder with token %d", r.info, holder.Token())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("AcquireLease did not return after the release")
	}
}

// A takeover that misses the quorum because nodes are down is retryable,
// even when a node holds a stray lock of another owner: only a quorum of
// "held by another" answers proves the lease lost. (5 nodes, 2 down, one
// with a stray lock: this used to fail with a non-retryable LeaseLost.)
func TestRunTakeoverWithNodesDownIsRetryable(t *testing.T) {
	acts, _, cluster := newLeases(t, 5)
	ctx := context.Background()
	for _, n := range cluster.Nodes[:2] {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.Nodes[2].Client.Set(ctx, "redlease:{ledger}:lock", "stray", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	ran, err := runEmptySection(acts, heldInfo("ledger", "wf/mine"))
	var appErr *temporal.ApplicationError
	if err == nil || ran || activities.IsLeaseLost(err) || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		t.Fatalf("error %v (section ran: %v): want a retryable error, not LeaseLost", err, ran)
	}
	if !errors.Is(err, lease.ErrNotAcquired) && !strings.Contains(err.Error(), "not acquired") {
		t.Fatalf("error %v: want the lease's not-acquired error", err)
	}
}

// runEmptySection runs, as an activity, a section that does nothing, and
// reports whether the section ran and the activity's error.
func runEmptySection(acts *activities.Activities, info activities.LeaseInfo) (ran bool, err error) {
	env, _ := sectionEnv(nil)
	step := func(ctx context.Context, info activities.LeaseInfo) (string, error) {
		return activities.Run(ctx, acts, info, func(ctx context.Context, s *activities.Section) (string, error) {
			ran = true
			return "", nil
		})
	}
	env.RegisterActivity(step)
	_, err = env.ExecuteActivity(step, info)
	return ran, err
}
