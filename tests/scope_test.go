package tests

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/temporal"
)

// The scope tests run with a short TTL so that every gap below outlasts
// it: TTL 3 s (4 s where a worker must take the keeper over), heartbeat
// timeout 1 s.
const scopeTTL, scopeHeartbeat = 3 * time.Second, time.Second

func stagedRequest(resource string, ttl time.Duration, stages ...exclusivejob.Stage) exclusivejob.StagedRequest {
	return exclusivejob.StagedRequest{
		Resource: resource,
		Lease:    workflows.LeaseOptions{TTL: ttl, HeartbeatTimeout: scopeHeartbeat},
		Stages:   stages,
	}
}

func decodeStaged(t *testing.T, raw json.RawMessage) []exclusivejob.StepsResult {
	t.Helper()
	var r []exclusivejob.StepsResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return r
}

// assertOrder checks the fenced log: every holder's writes form one run,
// in token order, and the holders came in the order want.
func assertOrder(t *testing.T, entries []fencedstore.Entry, want ...string) {
	t.Helper()
	order, err := fencedstore.Check(entries)
	if err != nil {
		t.Fatalf("fenced log: %v\n%v", err, entries)
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Fatalf("holders in order %v, want %v\n%v", order, want, entries)
	}
}

// A scope holds through a section retried with a backoff longer than the
// TTL (1 s, 2 s, 4 s) and a 5 s workflow.Sleep, while a competitor waits:
// the competitor runs only after the whole staged job. (Before the scope
// lease, the lock expired in the gap, the competitor ran its whole job,
// and the first job resumed after it.)
func TestScopeHoldsThroughRetryBackoffAndSleep(t *testing.T) {
	s := newStack(t, "scope-gaps")
	s.startWorker("a")
	req := stagedRequest("crane", scopeTTL,
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond, FailAttempts: 3, PauseAfter: 5 * time.Second},
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond})
	req.Lease.SectionRetry = &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second}
	s.startWorkflow(exclusivejob.StagedJobName, "staged", req)
	waitFor(t, 30*time.Second, "the staged job's first steps", func() bool { return len(s.logEntries()) >= 3 })
	s.startJob("competitor", jobRequest("crane", 3, 50*time.Millisecond, scopeTTL, scopeHeartbeat))

	status, raw, closeEvent := s.result("staged")
	if status != "COMPLETED" {
		t.Fatalf("staged: %s %s", status, closeEvent)
	}
	results := decodeStaged(t, raw)
	if len(results) != 2 || results[0].Attempt != 4 {
		t.Fatalf("stage results %+v: want 2 stages, the first finished by attempt 4", results)
	}
	if status, _, closeEvent := s.result("competitor"); status != "COMPLETED" {
		t.Fatalf("competitor: %s %s", status, closeEvent)
	}
	assertOrder(t, s.logEntries(), "staged", "competitor")
	if n := s.lockedNodes("crane"); n != 0 {
		t.Fatalf("lock left on %d nodes", n)
	}
	s.replay("staged")
}

// SIGKILL of the worker that keeps the scope (during a pause longer than
// the TTL, a competitor waiting) loses nothing: Temporal restarts the
// keeper on the other worker before the lease can expire, and the job
// finishes before the competitor starts.
func TestKillingTheKeepersWorkerLosesNothing(t *testing.T) {
	s := newStack(t, "scope-keeper")
	first := s.startWorker("first")
	req := stagedRequest("crane", 4*time.Second,
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond, PauseAfter: 8 * time.Second},
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond})
	s.startWorkflow(exclusivejob.StagedJobName, "staged", req)
	waitFor(t, 30*time.Second, "the first stage", func() bool { return len(s.logEntries()) >= 3 })
	s.startJob("competitor", jobRequest("crane", 3, 50*time.Millisecond, 4*time.Second, scopeHeartbeat))
	second := s.startWorker("second")
	second.waitPolling(t, s)
	first.kill() // the only worker that ran the keeper so far

	if status, _, closeEvent := s.result("staged"); status != "COMPLETED" {
		t.Fatalf("staged: %s %s", status, closeEvent)
	}
	if status, _, closeEvent := s.result("competitor"); status != "COMPLETED" {
		t.Fatalf("competitor: %s %s", status, closeEvent)
	}
	assertOrder(t, s.logEntries(), "staged", "competitor")
	s.replay("staged")
}

// With every worker down for longer than the TTL, another holder gets the
// resource; when workers return, the first workflow's scope ends in
// LeaseLost and its second stage never runs: never a silent resume.
func TestAllWorkersDownLongerThanTheTTLEndsInLeaseLost(t *testing.T) {
	s := newStack(t, "scope-lost")
	only := s.startWorker("only")
	req := stagedRequest("crane", scopeTTL,
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond, PauseAfter: 6 * time.Second},
		exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond})
	s.startWorkflow(exclusivejob.StagedJobName, "staged", req)
	waitFor(t, 30*time.Second, "the first stage", func() bool { return len(s.logEntries()) >= 3 })
	only.kill()

	// Another holder — here a plain lease client — takes the resource once
	// the lease has expired, writes with its token, and leaves.
	client, err := lease.New(s.nodes.LeaseNodes(), lease.WithNodeTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	other, err := client.Acquire(ctx, "crane", lease.WithWait(20*time.Second))
	if err != nil {
		t.Fatalf("the other holder: %v", err)
	}
	if err := s.store.Write(ctx, other.Token(), fencedstore.Entry{Holder: "outsider", Step: 0}); err != nil {
		t.Fatal(err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}

	s.startWorker("back")
	status, _, closeEvent := s.result("staged")
	if status != "FAILED" || !strings.Contains(closeEvent, "LeaseLost") {
		t.Fatalf("staged: %s %s; want FAILED with LeaseLost", status, closeEvent)
	}
	entries := s.logEntries()
	assertOrder(t, entries, "staged", "outsider")
	for _, e := range entries {
		if e.Holder == "staged" && e.Step >= 3 {
			t.Fatalf("the second stage ran after another holder: %+v", e)
		}
	}
	s.replay("staged")
}

// Two of five nodes down while a section is retried is no loss: the
// retries continue the scope on the other three and the job completes.
func TestTwoNodesDownDuringARetryIsNotLeaseLost(t *testing.T) {
	s := newStack(t, "scope-nodes")
	s.startWorker("a")
	req := stagedRequest("crane", scopeTTL,
		exclusivejob.Stage{Steps: 6, StepDuration: 100 * time.Millisecond, FailAttempts: 2})
	req.Lease.SectionRetry = &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond}
	s.startWorkflow(exclusivejob.StagedJobName, "staged", req)
	waitFor(t, 30*time.Second, "the first step", func() bool { return len(s.logEntries()) >= 1 })
	for _, n := range s.nodes.Nodes[3:] {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	status, raw, closeEvent := s.result("staged")
	if status != "COMPLETED" {
		t.Fatalf("staged: %s %s", status, closeEvent)
	}
	if r := decodeStaged(t, raw); len(r) != 1 || r[0].Attempt != 3 {
		t.Fatalf("results %+v: want one stage finished by attempt 3", r)
	}
	assertOrder(t, s.logEntries(), "staged")
}

// A worker frozen mid-section (SIGSTOP) wakes only after the job finished
// elsewhere, the lease was released and its tombstone expired: nothing of
// the scope runs again — no lock is taken, no write lands — and the next
// job gets the resource. (Before, a late attempt's takeover found a free
// lock once the tombstone had expired and got the newest token.)
func TestZombieWakingAfterTheReleaseStaysOut(t *testing.T) {
	s := newStack(t, "scope-late")
	zombie := s.startWorker("zombie")
	s.startJob("job-1", jobRequest("vault", 30, 100*time.Millisecond, scopeTTL, scopeHeartbeat))
	waitFor(t, 30*time.Second, "job-1 wrote 5 steps", func() bool { return len(s.logEntries()) >= 5 })
	if err := zombie.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer zombie.signal(syscall.SIGCONT)
	s.startWorker("rescuer")
	if status, _, closeEvent := s.result("job-1"); status != "COMPLETED" {
		t.Fatalf("job-1: %s %s", status, closeEvent)
	}
	time.Sleep(scopeTTL + time.Second) // the release tombstone expires
	done := len(s.logEntries())
	if err := zombie.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the zombie's section and any late attempt run now
	if n := s.lockedNodes("vault"); n != 0 {
		t.Fatalf("after the zombie woke, %d nodes hold a lock on the released resource", n)
	}
	if n := len(s.logEntries()); n != done {
		t.Fatalf("the zombie wrote %d entries after the job was done", n-done)
	}
	if status, _ := s.executeJob("job-2", jobRequest("vault", 2, 10*time.Millisecond, scopeTTL, scopeHeartbeat)); status != "COMPLETED" {
		t.Fatalf("job-2: %s", status)
	}
	assertOrder(t, s.logEntries(), "job-1", "job-2")
}

// A release that fails after the work succeeded (every lease node paused
// during the last step: its progress save, the section's own release and
// ReleaseLease all fail) does not fail the job: it completes with its
// result, and the lock expires by its TTL.
func TestJobCompletesWhenItsReleaseFails(t *testing.T) {
	s := newStack(t, "scope-release")
	s.startWorker("a")
	s.startJob("job", jobRequest("kiln", 8, 250*time.Millisecond, scopeTTL, scopeHeartbeat))
	waitFor(t, 30*time.Second, "the job's last step", func() bool { return len(s.logEntries()) >= 7 })
	for _, n := range s.nodes.Nodes {
		if err := n.Pause(); err != nil {
			t.Fatal(err)
		}
		defer n.Resume()
	}
	status, raw, closeEvent := s.result("job")
	if status != "COMPLETED" {
		t.Fatalf("job: %s %s; want COMPLETED although the release failed", status, closeEvent)
	}
	if r := decodeResult(t, raw); r.Steps != 8 {
		t.Fatalf("result %+v", r)
	}
}
