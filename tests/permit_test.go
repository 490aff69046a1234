package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/samples/permitpool"
	"github.com/redlease/redlease/workflows"
)

// Ten workflows share three permits of a rate-limited API, each making
// three calls as critical sections. The only worker is SIGKILLed while
// three calls are in flight, and a second worker finishes: every workflow
// completes, the API's log (which counts the calls in flight after every
// event, by workflow) never shows more than three, the killed calls are
// retried on their own slots with higher tokens, a late event with a
// killed call's token is refused, and no permit is left held.
func TestTenWorkflowsShareThreePermitsThroughAWorkerKill(t *testing.T) {
	s := newStack(t, "permits")
	const limit, workflowsN = 3, 10
	first := s.startWorker("first")
	first.waitPolling(t, s)
	req := permitpool.Request{
		Resource: "partner-api",
		Limit:    limit,
		Lease:    workflows.LeaseOptions{TTL: 10 * time.Second, HeartbeatTimeout: 3 * time.Second},
	}
	for i := range 3 {
		req.Calls = append(req.Calls, permitpool.CallInput{Call: i, Duration: 700 * time.Millisecond})
	}
	var ids []string
	for i := range workflowsN {
		id := fmt.Sprintf("pool-%d", i)
		ids = append(ids, id)
		s.startWorkflow(permitpool.WorkflowName, id, req)
	}
	ctx := context.Background()
	open := func() []permitpool.Event {
		events, err := s.pool.Log(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return events
	}
	// Kill the worker while three calls are open (only it runs them).
	waitFor(t, 60*time.Second, "three calls in flight", func() bool {
		events := open()
		return len(events) > 0 && events[len(events)-1].InFlight == limit
	})
	first.kill()
	killed := map[int]permitpool.Event{} // by slot: the last enter of a call that never exited
	inFlight := map[string]permitpool.Event{}
	for _, e := range open() {
		if e.Event == "enter" {
			inFlight[e.Holder] = e
		} else {
			delete(inFlight, e.Holder)
		}
	}
	for _, e := range inFlight {
		killed[e.Slot] = e
	}
	if len(killed) != limit {
		t.Fatalf("%d calls open at the kill on distinct slots, want %d: %v", len(killed), limit, inFlight)
	}

	s.startWorker("second")
	retried := 0
	for _, id := range ids {
		status, raw, closeEvent := s.resultWithin(id, 3*time.Minute)
		if status != "COMPLETED" {
			t.Fatalf("%s: %s %s", id, status, closeEvent)
		}
		var results []permitpool.CallResult
		if err := json.Unmarshal(raw, &results); err != nil || len(results) != len(req.Calls) {
			t.Fatalf("%s: result %s: %v", id, raw, err)
		}
		for _, r := range results {
			if k, ok := killed[r.Slot]; ok && k.Holder == id && r.Attempt >= 2 {
				retried++
				if r.Token <= k.Token {
					t.Fatalf("%s: the retried call's token %d is not above the killed call's %d on slot %d", id, r.Token, k.Token, r.Slot)
				}
			}
		}
	}
	if retried != limit {
		t.Fatalf("%d killed calls were retried by their workflows on their slots, want %d", retried, limit)
	}

	events := open()
	most, err := permitpool.Check(events, limit)
	if err != nil {
		t.Fatalf("the API's log: %v", err)
	}
	if most != limit {
		t.Fatalf("at most %d calls in flight, want the limit %d reached", most, limit)
	}
	enters := 0
	for _, e := range events {
		if e.Event == "enter" {
			enters++
		}
	}
	if want := workflowsN*len(req.Calls) + limit; enters != want {
		t.Fatalf("%d calls entered, want %d (every call once, the %d killed ones twice)", enters, want, limit)
	}
	// A killed call's late event is refused: its slot moved on.
	for _, k := range killed {
		if _, err := s.pool.Exit(ctx, k.Slot, k.Token, k.Holder, k.Call); !errors.Is(err, permitpool.ErrStaleToken) {
			t.Fatalf("a late exit with the killed call's token %d on slot %d: %v, want ErrStaleToken", k.Token, k.Slot, err)
		}
	}
	for i, n := range s.nodes.Nodes {
		for slot := range limit {
			v := n.Client.Get(ctx, fmt.Sprintf("redlease:{partner-api}:permit:%d", slot)).Val()
			if v != "" && !strings.HasSuffix(v, "#") {
				t.Fatalf("node %d: permit slot %d still held by %q after every workflow ended", i, slot, v)
			}
		}
	}
	s.replay(ids[0])
	t.Logf("%d events, at most %d calls in flight; killed calls %v retried with higher tokens", len(events), most, killed)
}

// Cancelling permit workflows releases their permits: two workflows hold
// both permits of a resource (TTL 60 s), a third waits in AcquireLease;
// cancelling the waiter ends its wait and touches no slot, cancelling a
// holder frees its slot within seconds (released, not expired: a tombstone
// on a quorum), and the remaining workflow completes.
func TestCancelledPermitWorkflowsReleaseTheirSlots(t *testing.T) {
	s := newStack(t, "permitcancel")
	s.startWorker("w")
	ctx := context.Background()
	req := func(calls int, d time.Duration) permitpool.Request {
		r := permitpool.Request{Resource: "gpu", Limit: 2, Lease: workflows.LeaseOptions{TTL: 60 * time.Second, HeartbeatTimeout: 3 * time.Second}}
		for i := range calls {
			r.Calls = append(r.Calls, permitpool.CallInput{Call: i, Duration: d})
		}
		return r
	}
	s.startWorkflow(permitpool.WorkflowName, "long-1", req(1, time.Hour))
	s.startWorkflow(permitpool.WorkflowName, "short-2", req(20, 500*time.Millisecond))
	inFlight := func() int {
		events, err := s.pool.Log(ctx)
		if err != nil || len(events) == 0 {
			return 0
		}
		return events[len(events)-1].InFlight
	}
	waitFor(t, 30*time.Second, "both permits in use", func() bool { return inFlight() == 2 })
	s.startWorkflow(permitpool.WorkflowName, "waiter-3", req(1, 100*time.Millisecond))
	waitFor(t, 30*time.Second, "waiter-3 in AcquireLease", func() bool {
		pending, _ := s.describe("waiter-3")["pendingActivities"].([]any)
		for _, p := range pending {
			if strings.Contains(fmt.Sprint(p.(map[string]any)["activityType"]), "redlease.AcquireLease") {
				return true
			}
		}
		return false
	})
	s.temporal("workflow", "cancel", "--workflow-id", "waiter-3")
	if status, _, _ := s.result("waiter-3"); status != "CANCELED" {
		t.Fatalf("waiter-3: %s, want CANCELED", status)
	}
	slotValue := func(node, slot int) string {
		return s.nodes.Nodes[node].Client.Get(ctx, fmt.Sprintf("redlease:{gpu}:permit:%d", slot)).Val()
	}
	heldSlots := func() (held, tombstones int) {
		for slot := range 2 {
			h, ts := 0, 0
			for i := range s.nodes.Nodes {
				switch v := slotValue(i, slot); {
				case strings.HasSuffix(v, "#"):
					ts++
				case v != "":
					h++
				}
			}
			if h >= 3 {
				held++
			}
			if ts >= 3 {
				tombstones++
			}
		}
		return held, tombstones
	}
	if held, _ := heldSlots(); held != 2 {
		t.Fatalf("%d slots held on a quorum after the waiter's cancellation, want both", held)
	}
	cancelled := time.Now()
	s.temporal("workflow", "cancel", "--workflow-id", "long-1")
	if status, _, _ := s.result("long-1"); status != "CANCELED" {
		t.Fatalf("long-1: %s, want CANCELED", status)
	}
	// The TTL is 60 s: a slot free within 30 s was released, not expired.
	waitFor(t, 30*time.Second, "long-1's slot released", func() bool { _, ts := heldSlots(); return ts >= 1 })
	t.Logf("long-1's slot released %v after the cancel", time.Since(cancelled).Round(time.Millisecond))
	if status, _, closeEvent := s.result("short-2"); status != "COMPLETED" {
		t.Fatalf("short-2: %s %s", status, closeEvent)
	}
	events, err := s.pool.Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Holder == "waiter-3" {
			t.Fatalf("the cancelled waiter called the API: %+v", e)
		}
	}
	// long-1's call, cancelled mid-flight, ended at the API too.
	if _, err := permitpool.Check(events, 2); err != nil {
		t.Fatalf("the API's log: %v", err)
	}
	waitFor(t, 30*time.Second, "both slots free", func() bool { held, _ := heldSlots(); return held == 0 })
}
