package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/workflows"
)

// jobRequest is the ExclusiveJob input: steps × stepDuration under a lease
// with the given TTL and heartbeat timeout.
func jobRequest(resource string, steps int, step, ttl, heartbeat time.Duration) workflows.JobRequest {
	return workflows.JobRequest{
		Resource: resource,
		Activity: exclusivejob.StepsName,
		Input:    exclusivejob.StepsInput{Steps: steps, StepDuration: step},
		Lease:    workflows.LeaseOptions{TTL: ttl, HeartbeatTimeout: heartbeat},
	}
}

func decodeResult(t *testing.T, raw json.RawMessage) exclusivejob.StepsResult {
	t.Helper()
	var r exclusivejob.StepsResult
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return r
}

// N workflows contend for one resource on two workers: all complete, and
// the fenced store's log shows each holder's steps as one run, in token
// order, never interleaved.
func TestContendingWorkflowsNeverOverlap(t *testing.T) {
	s := newStack(t, "contend")
	s.startWorker("a")
	s.startWorker("b")
	const jobs, steps = 4, 5
	req := jobRequest("printer", steps, 40*time.Millisecond, 10*time.Second, 3*time.Second)
	for i := range jobs - 1 {
		s.startJob(fmt.Sprintf("contend-%d", i), req)
	}
	// The last one through `workflow execute`, which waits for its end, with
	// its input as a person would type it: the lease's durations as strings.
	last := fmt.Sprintf("contend-%d", jobs-1)
	typed := json.RawMessage(fmt.Sprintf(`{"Resource":"printer","Activity":%q,"Input":{"Steps":%d,"StepDuration":%d},"Lease":{"TTL":"10s","HeartbeatTimeout":"3s"}}`,
		exclusivejob.StepsName, steps, (40 * time.Millisecond).Nanoseconds()))
	status, raw := s.executeJob(last, typed)
	if status != "COMPLETED" {
		t.Fatalf("%s: %s", last, status)
	}
	lastToken := decodeResult(t, raw).Token
	var tokens []int64
	for i := range jobs - 1 {
		status, raw, closeEvent := s.result(fmt.Sprintf("contend-%d", i))
		if status != "COMPLETED" {
			t.Fatalf("contend-%d: %s %s", i, status, closeEvent)
		}
		tokens = append(tokens, decodeResult(t, raw).Token)
	}
	tokens = append(tokens, lastToken)
	entries := s.logEntries()
	order, err := fencedstore.Check(entries)
	if err != nil {
		t.Fatalf("fenced log: %v\n%v", err, entries)
	}
	// A retried attempt (a heartbeat lost on a busy machine) may write a
	// step again, with its newer token; each step must be there once at least.
	written := map[string]bool{}
	for _, e := range entries {
		written[fmt.Sprintf("%s/%d", e.Holder, e.Step)] = true
	}
	if len(written) != jobs*steps || len(order) != jobs {
		t.Fatalf("log has %d distinct steps by %d holders (%v), want %d by %d", len(written), len(order), order, jobs*steps, jobs)
	}
	seen := map[string]bool{}
	for _, h := range order {
		if seen[h] {
			t.Fatalf("holder %s held the resource twice: %v", h, order)
		}
		seen[h] = true
	}
	if n := s.lockedNodes("printer"); n != 0 {
		t.Fatalf("lock left on %d nodes after all jobs", n)
	}
	for i := range jobs {
		s.replay(fmt.Sprintf("contend-%d", i))
	}
	t.Logf("holders in order %v, tokens %v; histories replay", order, tokens)
}

// A worker is SIGKILLed in the middle of a critical section. Another
// worker finishes the job: the retried attempt takes the lease over with a
// higher token and resumes from the last step the dead attempt saved, so
// at most one step (the one in progress) is done twice; a late write with
// the dead attempt's token is refused; the lease is released at the end.
// (Resuming from heartbeats, 21 steps written gave a resume at 12.)
func TestKilledWorkerIsTakenOverWithHigherToken(t *testing.T) {
	s := newStack(t, "kill")
	first := s.startWorker("first")
	s.startJob("kill-1", jobRequest("press", 40, 150*time.Millisecond, 10*time.Second, 3*time.Second))
	waitFor(t, 30*time.Second, "first worker wrote 21 steps", func() bool { return len(s.logEntries()) >= 21 })
	first.kill()
	before := s.logEntries()
	oldToken := before[len(before)-1].Token
	lastStep := before[len(before)-1].Step

	s.startWorker("second")
	status, raw, closeEvent := s.result("kill-1")
	if status != "COMPLETED" {
		t.Fatalf("kill-1: %s %s", status, closeEvent)
	}
	r := decodeResult(t, raw)
	if r.Token <= oldToken || r.Attempt < 2 || r.ResumedAt < lastStep {
		t.Fatalf("finishing attempt %+v: want token above %d, attempt ≥ 2, resumed at step %d or %d", r, oldToken, lastStep, lastStep+1)
	}
	twice := 0
	counts := map[int]int{}
	for _, e := range s.logEntries() {
		if counts[e.Step]++; counts[e.Step] == 2 {
			twice++
		}
	}
	if twice > 1 {
		t.Fatalf("%d steps were written twice, want at most one", twice)
	}

	// The dead attempt's late write is refused.
	late := fencedstore.Entry{Holder: "kill-1", Step: 99, Note: "zombie"}
	if err := s.store.Write(context.Background(), oldToken, late); !errors.Is(err, fencedstore.ErrStaleToken) {
		t.Fatalf("late write with token %d: %v, want ErrStaleToken", oldToken, err)
	}
	entries := s.logEntries()
	if _, err := fencedstore.Check(entries); err != nil {
		t.Fatalf("fenced log: %v", err)
	}
	steps := map[int]bool{}
	for _, e := range entries {
		steps[e.Step] = true
	}
	for i := range 40 {
		if !steps[i] {
			t.Fatalf("step %d never written: %v", i, entries)
		}
	}
	if n := s.lockedNodes("press"); n != 0 {
		t.Fatalf("lease left on %d nodes after the job", n)
	}
	if n := s.tombstones("press"); n < 3 {
		t.Fatalf("release tombstone on %d nodes, want a quorum", n)
	}
	s.replay("kill-1")
	t.Logf("dead attempt's token %d wrote up to step %d, takeover token %d resumed at step %d (%d steps twice); history replays", oldToken, lastStep, r.Token, r.ResumedAt, twice)
}

// The same crash with AcquireInSection (no AcquireLease activity: the
// section acquires the lease itself): the retried section takes its own
// holder's lock over, resumes, and the job waiting behind it gets the
// resource only afterwards.
func TestAcquireInSectionSurvivesAKilledWorker(t *testing.T) {
	s := newStack(t, "inline")
	first := s.startWorker("first")
	for _, id := range []string{"inline-1", "inline-2"} {
		req := jobRequest("lathe", 40, 150*time.Millisecond, 15*time.Second, 3*time.Second)
		req.Lease.AcquireInSection = true
		s.startJob(id, req)
	}
	waitFor(t, 30*time.Second, "a job wrote 25 steps", func() bool { return len(s.logEntries()) >= 25 })
	first.kill()
	before := s.logEntries()
	killed, oldToken := before[0].Holder, before[len(before)-1].Token
	s.startWorker("second")
	results := map[string]exclusivejob.StepsResult{}
	for _, id := range []string{"inline-1", "inline-2"} {
		status, raw, closeEvent := s.result(id)
		if status != "COMPLETED" {
			t.Fatalf("%s: %s %s", id, status, closeEvent)
		}
		results[id] = decodeResult(t, raw)
	}
	if r := results[killed]; r.Token <= oldToken || r.Attempt < 2 || r.ResumedAt == 0 {
		t.Fatalf("%s finished with %+v: want a token above %d, attempt ≥ 2, resumed after step 0", killed, r, oldToken)
	}
	entries := s.logEntries()
	order, err := fencedstore.Check(entries)
	if err != nil {
		t.Fatalf("fenced log: %v", err)
	}
	if len(order) != 2 || order[0] != killed {
		t.Fatalf("holders in order %v: want %s (taken over in place) then the other", order, killed)
	}
	if n := s.lockedNodes("lathe"); n != 0 {
		t.Fatalf("lease left on %d nodes after the jobs", n)
	}
	t.Logf("%s: dead attempt's token %d, takeover token %d, resumed at step %d", killed, oldToken, results[killed].Token, results[killed].ResumedAt)
}

// A worker frozen mid-section (SIGSTOP) is a real zombie: Temporal retries
// the attempt on another worker, which takes the lease over; when the
// zombie wakes, its next write carries the old token and is refused.
func TestFrozenWorkerWakesAsFencedOutZombie(t *testing.T) {
	s := newStack(t, "zombie")
	zombie := s.startWorker("zombie")
	s.startJob("zombie-1", jobRequest("vault", 40, 150*time.Millisecond, 10*time.Second, 3*time.Second))
	waitFor(t, 30*time.Second, "zombie wrote 5 steps", func() bool { return len(s.logEntries()) >= 5 })
	if err := zombie.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	oldToken := s.logEntries()[len(s.logEntries())-1].Token
	s.startWorker("rescuer")
	waitFor(t, 30*time.Second, "rescuer wrote with a newer token", func() bool {
		e := s.logEntries()
		return e[len(e)-1].Token > oldToken
	})
	if err := zombie.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	status, _, closeEvent := s.result("zombie-1")
	if status != "COMPLETED" {
		t.Logf("history:\n%s", s.temporal("workflow", "show", "--workflow-id", "zombie-1", "-o", "json"))
		t.Fatalf("zombie-1: %s %s", status, closeEvent)
	}
	rejected, err := s.store.Rejected(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The zombie either wrote once more and was refused, or learned of the
	// loss (ErrLost on its next extension) before its next write; both keep
	// the log clean. The log check is the invariant.
	for _, e := range rejected {
		if e.Token != oldToken {
			t.Fatalf("rejected write with token %d, want only the zombie's %d", e.Token, oldToken)
		}
	}
	if _, err := fencedstore.Check(s.logEntries()); err != nil {
		t.Fatalf("fenced log: %v", err)
	}
	t.Logf("zombie token %d: %d late writes refused", oldToken, len(rejected))
}

// Cancelling a workflow mid-section cancels the activity (through its
// heartbeat) and releases the lease at once, long before its TTL.
func TestCancelledWorkflowReleasesLease(t *testing.T) {
	s := newStack(t, "cancel")
	s.startWorker("w")
	s.startJob("cancel-1", jobRequest("drill", 1000, 100*time.Millisecond, 60*time.Second, 3*time.Second))
	waitFor(t, 30*time.Second, "job running", func() bool { return len(s.logEntries()) >= 3 })
	if s.lockedNodes("drill") < 3 {
		t.Fatal("no lease held while the job runs")
	}
	cancelled := time.Now()
	s.temporal("workflow", "cancel", "--workflow-id", "cancel-1")
	status, _, _ := s.result("cancel-1")
	if status != "CANCELED" {
		t.Fatalf("status %s, want CANCELED", status)
	}
	// The TTL is 60 s: a lease gone within 30 s was released, not expired.
	waitFor(t, 30*time.Second, "lease released", func() bool { return s.lockedNodes("drill") == 0 })
	if s.tombstones("drill") < 3 {
		t.Fatal("no release tombstone on a quorum: the lease was not released by the workflow")
	}
	t.Logf("lease released %v after the cancel", time.Since(cancelled).Round(time.Millisecond))
}

// Cancelling a workflow that is still waiting for the lease (in the
// AcquireLease activity) ends the wait through its heartbeat: the workflow
// is CANCELED at once, never runs its section, and the holder is untouched.
func TestCancelWhileWaitingForTheLease(t *testing.T) {
	s := newStack(t, "cancelwait")
	s.startWorker("w")
	s.startJob("holder-1", jobRequest("anvil", 1000, 100*time.Millisecond, 10*time.Second, 2*time.Second))
	waitFor(t, 30*time.Second, "holder running", func() bool { return len(s.logEntries()) >= 3 })
	s.startJob("waiter-1", jobRequest("anvil", 5, 100*time.Millisecond, 10*time.Second, 2*time.Second))
	waitFor(t, 30*time.Second, "waiter in AcquireLease", func() bool {
		pending, _ := s.describe("waiter-1")["pendingActivities"].([]any)
		for _, p := range pending {
			if strings.Contains(fmt.Sprint(p.(map[string]any)["activityType"]), "redlease.AcquireLease") {
				return true
			}
		}
		return false
	})
	s.temporal("workflow", "cancel", "--workflow-id", "waiter-1")
	if status, _, _ := s.result("waiter-1"); status != "CANCELED" {
		t.Fatalf("waiter-1: status %s, want CANCELED", status)
	}
	for _, e := range s.logEntries() {
		if e.Holder != "holder-1" {
			t.Fatalf("the cancelled waiter wrote %+v", e)
		}
	}
	if n := s.lockedNodes("anvil"); n < 3 {
		t.Fatalf("the holder's lease is on %d nodes after the waiter's cancellation, want a quorum", n)
	}
	s.temporal("workflow", "cancel", "--workflow-id", "holder-1")
	if status, _, _ := s.result("holder-1"); status != "CANCELED" {
		t.Fatalf("holder-1: status %s, want CANCELED", status)
	}
	waitFor(t, 30*time.Second, "lease released", func() bool { return s.lockedNodes("anvil") == 0 })
}

// Terminating a workflow runs no release; the lease expires by its TTL.
// The worker stays up: its critical section learns of the termination from
// its next heartbeat, stops, and stops extending the lease.
func TestTerminatedWorkflowLeaseExpiresByTTL(t *testing.T) {
	s := newStack(t, "terminate")
	s.startWorker("w")
	s.startJob("term-1", jobRequest("lathe", 1000, 100*time.Millisecond, 6*time.Second, 2*time.Second))
	waitFor(t, 30*time.Second, "job running", func() bool { return len(s.logEntries()) >= 3 })
	s.temporal("workflow", "terminate", "--workflow-id", "term-1", "--reason", "e2e")
	if n := s.lockedNodes("lathe"); n < 3 {
		t.Fatalf("lease on %d nodes right after terminate, want a quorum until its TTL", n)
	}
	waitFor(t, 30*time.Second, "lease expired by TTL", func() bool { return s.lockedNodes("lathe") == 0 })
	if n := s.tombstones("lathe"); n != 0 {
		t.Fatalf("release tombstone on %d nodes: a terminated workflow cannot have released", n)
	}
	written := len(s.logEntries())
	// The section stopped: nothing writes once the lease is gone (2 s is
	// 20 step durations).
	time.Sleep(2 * time.Second)
	if after := len(s.logEntries()); after != written {
		t.Fatalf("the terminated job's section kept writing: %d entries, then %d", written, after)
	}
	info, _ := s.describe("term-1")["workflowExecutionInfo"].(map[string]any)
	if status := fmt.Sprint(info["status"]); !strings.Contains(status, "TERMINATED") {
		t.Fatalf("status %s, want TERMINATED", status)
	}
}

// describe shows a running critical section's heartbeat: the lease token
// and the job's last saved progress (next to the scope's keeper).
func TestDescribeShowsHeartbeatProgress(t *testing.T) {
	s := newStack(t, "describe")
	s.startWorker("w")
	s.startJob("desc-1", jobRequest("kiln", 1000, 100*time.Millisecond, 10*time.Second, 3*time.Second))
	var details string
	waitFor(t, 30*time.Second, "heartbeat details with progress", func() bool {
		d := s.describe("desc-1")
		pending, _ := d["pendingActivities"].([]any)
		for _, p := range pending {
			raw, _ := json.Marshal(p.(map[string]any)["heartbeatDetails"])
			if details = string(raw); strings.Contains(details, `"Done"`) && strings.Contains(details, `"Token"`) {
				return true
			}
		}
		return false
	})
	t.Logf("heartbeat details: %s", details)
	s.temporal("workflow", "cancel", "--workflow-id", "desc-1")
	s.result("desc-1")
}

// A job naming an activity that no worker registered fails promptly with a
// clear error instead of retrying forever, and its lease is released.
func TestJobWithAnUnregisteredActivityFailsAndFreesTheLease(t *testing.T) {
	s := newStack(t, "unregistered")
	s.startWorker("a")
	req := jobRequest("kiln", 1, 10*time.Millisecond, 10*time.Second, 3*time.Second)
	req.Activity = "NoSuchActivity"
	s.startJob("unregistered", req)
	waitFor(t, 30*time.Second, "the job fails", func() bool {
		info, _ := s.describe("unregistered")["workflowExecutionInfo"].(map[string]any)
		return strings.Contains(fmt.Sprint(info["status"]), "FAILED")
	})
	_, _, closeEvent := s.result("unregistered")
	if !strings.Contains(closeEvent, "NoSuchActivity") {
		t.Fatalf("close event does not name the missing activity: %s", closeEvent)
	}
	waitFor(t, 10*time.Second, "lease released", func() bool { return s.lockedNodes("kiln") == 0 })
}
