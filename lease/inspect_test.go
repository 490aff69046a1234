package lease_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

// Inspect reports each node's lock, tombstone, TTL, fence and guard, and
// the verdict; it never shows the owner value.
func TestInspectShowsWhatTheNodesHold(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithTTL(5*time.Second), lease.WithRestartGuard(5*time.Second))
	ctx := context.Background()

	st, err := c.Inspect(ctx, "printer")
	if err != nil {
		t.Fatal(err)
	}
	if st.Held || st.Answered != 5 || st.Token != 0 {
		t.Fatalf("a fresh resource: %+v", st)
	}
	for _, n := range st.Nodes {
		if n.Lock != lease.LockFree || n.Guard != "ready" || n.Err != nil {
			t.Fatalf("a fresh node: %+v", n)
		}
	}

	l, err := c.Acquire(ctx, "printer", lease.WithHolder("ops/job-1"), lease.WithEpoch(lease.NewEpoch(7, 0)))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the lock on every node", func() bool {
		return countOwner(lockValues(t, cluster, "printer"), l.Owner()) == 5
	})
	st, err = c.Inspect(ctx, "printer")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Held || st.Holder != "ops/job-1" || st.HeldOn != 5 || st.Token != l.Token() || st.ValidFor <= 0 || st.ValidFor > 5*time.Second {
		t.Fatalf("held: %+v", st)
	}
	if shown := fmt.Sprintf("%+v %s", st, st); strings.Contains(shown, l.Owner()) || strings.Contains(shown, l.Owner()[strings.LastIndex(l.Owner(), "#")+1:]) {
		t.Fatalf("the owner value (a credential) shows: %s", shown)
	}
	if !strings.Contains(st.String(), "held by ops/job-1") {
		t.Fatalf("verdict %q", st)
	}

	// A node down, another restarted empty (its guard starts with the next
	// acquisition attempt).
	if err := cluster.Nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Inspect(ctx, "printer")
	if st.Nodes[0].Err == nil || st.Nodes[0].Lock != lease.LockUnknown || st.Nodes[1].Guard != "new" || st.Answered != 4 || !st.Held || st.HeldOn != 3 {
		t.Fatalf("a node down and one restarted: %+v", st)
	}
	if _, err := c.Acquire(ctx, "other"); err == nil {
		t.Log("acquired other (3 of 4 answering nodes)")
	}
	st, _ = c.Inspect(ctx, "printer")
	if st.Nodes[1].Guard != "guarded" || st.Nodes[1].GuardedFor <= 0 {
		t.Fatalf("the restarted node after an acquisition: %+v", st.Nodes[1])
	}

	// Released by holder: a tombstone with the holder and epoch.
	if err := c.ReleaseHolder(ctx, "printer", "ops/job-1", lease.NewEpoch(7, 0), 0); err != nil {
		t.Fatal(err)
	}
	st, _ = c.Inspect(ctx, "printer")
	if st.Held || st.Nodes[2].Lock != lease.LockTombstone || st.Nodes[2].Holder != "ops/job-1" || st.Nodes[2].TTL <= 0 {
		t.Fatalf("after the release: %+v", st)
	}
	if _, err := c.Inspect(ctx, "bad{name}"); err == nil {
		t.Fatal("a bad resource name was inspected")
	}
}

// List finds the resources with a lock or tombstone on some node, by
// prefix, bounded; glob characters in the prefix are literal.
func TestListFindsResourcesByPrefix(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	for _, r := range []string{"printer-1", "printer-2", "printer-*", "scanner"} {
		l := mustAcquire(t, c, r)
		defer l.Release(ctx)
	}
	// A key only node 2 has still counts; other keys are not resources.
	if err := cluster.Nodes[2].Client.Set(ctx, "redlease:{printer-9}:lock", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[0].Client.Set(ctx, "redlease:{printer-3}:fence", "5", 0).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := c.List(ctx, "printer-", 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"printer-*", "printer-1", "printer-2", "printer-9"}; fmt.Sprint(got.Resources) != fmt.Sprint(want) || got.Truncated || len(got.Failed) != 0 {
		t.Fatalf("list printer-: %+v, want %v", got, want)
	}
	if got, _ := c.List(ctx, "printer-*", 10); fmt.Sprint(got.Resources) != "[printer-*]" {
		t.Fatalf("a prefix with '*' is literal: %v", got.Resources)
	}
	if got, _ := c.List(ctx, "", 2); len(got.Resources) != 2 || !got.Truncated {
		t.Fatalf("bounded to 2: %+v", got)
	}
	if err := cluster.Nodes[1].Kill(); err != nil {
		t.Fatal(err)
	}
	got, err = c.List(ctx, "", 10)
	if err != nil || len(got.Failed) != 1 || got.Failed[0].Node != 1 || len(got.Resources) != 5 {
		t.Fatalf("with a node down: %+v, %v", got, err)
	}
	for _, bad := range []func() error{
		func() error { _, err := c.List(ctx, "", 0); return err },
		func() error { _, err := c.List(ctx, "a{b", 5); return err },
	} {
		if err := bad(); err == nil {
			t.Fatal("bad input accepted")
		}
	}
}

// ForceRelease frees a resource held by an owner nobody can name, only if
// that owner is still the one the operator saw; the holder loses it.
func TestForceReleaseFreesOnlyTheOwnerSeen(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	l := mustAcquire(t, c, "stuck") // anonymous owner
	waitUntil(t, 2*time.Second, "the lock on every node", func() bool {
		return countOwner(lockValues(t, cluster, "stuck"), l.Owner()) == 3
	})
	st, err := c.Inspect(ctx, "stuck")
	if err != nil || !st.Held || st.Holder != "" {
		t.Fatalf("%+v %v", st, err)
	}
	if n, err := c.ForceRelease(ctx, "stuck", "00000000"); err != nil || n != 0 {
		t.Fatalf("another owner id: released on %d nodes, %v; want none", n, err)
	}
	if !l.Valid() || l.Extend(ctx) != nil {
		t.Fatal("a wrong owner id disturbed the holder")
	}
	n, err := c.ForceRelease(ctx, "stuck", st.OwnerID)
	if err != nil || n != 3 {
		t.Fatalf("force release: %d nodes, %v", n, err)
	}
	if err := l.Extend(ctx); err == nil {
		t.Fatal("the holder still extends after a forced release")
	}
	next := mustAcquire(t, c, "stuck")
	defer next.Release(ctx)
	if next.Token() <= l.Token() {
		t.Fatalf("the next holder's token %d is not above %d", next.Token(), l.Token())
	}
	for _, bad := range []string{"", "xyz", "0123456789", "ABCDEFGZ"} {
		if _, err := c.ForceRelease(ctx, "stuck", bad); err == nil {
			t.Fatalf("owner id %q accepted", bad)
		}
	}
}

// A scope lease force-released stays released: its keeper does not put the
// lock back (the counter moved), it learns the loss, and others get in.
func TestForceReleaseEndsAScopeLease(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	owner := scopeOwner(t, "ns/wf/run/default", 100)
	if _, err := c.AcquireScope(ctx, "held-by-scope", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the scope on every node", func() bool {
		return countOwner(lockValues(t, cluster, "held-by-scope"), owner) == 3
	})
	st, err := c.Inspect(ctx, "held-by-scope")
	if err != nil || !st.Held {
		t.Fatalf("%+v %v", st, err)
	}
	if n, err := c.ForceRelease(ctx, "held-by-scope", strings.ToUpper(st.OwnerID)); err == nil || n != 0 {
		t.Fatalf("an upper-case owner id: %d, %v; want refused", n, err)
	}
	if n, err := c.ForceRelease(ctx, "held-by-scope", st.OwnerID); err != nil || n != 3 {
		t.Fatalf("force release: %d, %v", n, err)
	}
	if _, err := c.KeepScope(ctx, "held-by-scope", owner, 5*time.Second, true); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("the scope's keep after a forced release: %v, want ErrLost", err)
	}
	if n := countOwner(lockValues(t, cluster, "held-by-scope"), owner); n != 0 {
		t.Fatalf("the scope's lock is back on %d nodes", n)
	}
	other := mustAcquire(t, c, "held-by-scope")
	defer other.Release(ctx)
}
