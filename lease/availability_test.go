package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// I5: with ⌊(N−1)/2⌋ nodes down, acquire, extend and release still work.
func TestMinorityDownStillWorks(t *testing.T) {
	c, cluster := newClient(t, 5)
	ctx := context.Background()
	for _, i := range []int{1, 3} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	l := mustAcquire(t, c, "minority")
	before := l.ValidUntil()
	if err := l.Extend(ctx); err != nil {
		t.Fatalf("extend with 2 of 5 down: %v", err)
	}
	if !l.ValidUntil().After(before) {
		t.Fatal("extend did not move ValidUntil forward")
	}
	if err := l.Release(ctx); err != nil {
		t.Fatalf("release with 2 of 5 down: %v", err)
	}
	waitReleased(t, cluster, "minority")
}

// With a majority down, acquire fails cleanly: a typed error naming the
// dead nodes, and nothing left behind on the live ones.
func TestMajorityDownFailsCleanly(t *testing.T) {
	c, cluster := newClient(t, 5)
	for _, i := range []int{0, 2, 4} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Acquire(context.Background(), "majority")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("got %v, want *NotAcquiredError", err)
	}
	if len(na.Nodes) < 3 {
		t.Fatalf("per-node detail %v: want the 3 dead nodes", na.Nodes)
	}
	for _, ne := range na.Nodes {
		if ne.Node%2 != 0 {
			t.Fatalf("live node %d reported failed: %v", ne.Node, ne)
		}
		if ne.Addr != cluster.Nodes[ne.Node].Addr {
			t.Fatalf("node %d reported as %q, want %q", ne.Node, ne.Addr, cluster.Nodes[ne.Node].Addr)
		}
	}
	if n := keyCount(t, cluster); n != 2 { // the live nodes keep only their fence counter
		t.Fatalf("%d keys on the 2 live nodes, want only 2 fence counters", n)
	}

	// A lease held before the majority died can no longer be extended, and
	// Extend says why.
	for _, i := range []int{0, 2, 4} {
		if err := cluster.Nodes[i].Restart(context.Background()); err != nil {
			t.Fatal(err)
		}
		// They never granted a lock: no restart guard to sit out.
		initRestarted(t, cluster.Nodes[i])
	}
	l := mustAcquire(t, c, "majority")
	for _, i := range []int{0, 1, 2} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	err = l.Extend(context.Background())
	var qe *lease.QuorumError
	if !errors.As(err, &qe) || !errors.Is(err, lease.ErrNotExtended) || qe.Confirmed >= c.Quorum() || len(qe.Nodes) < 3 {
		t.Fatalf("extend with 3 of 5 down: %v, want *QuorumError naming 3 failed nodes", err)
	}
	if !l.Valid() {
		t.Fatal("a failed extension inside the validity must leave the lease valid until ValidUntil")
	}
	if err := l.Release(context.Background()); !errors.Is(err, lease.ErrNotReleased) {
		t.Fatalf("release with 3 of 5 down: %v, want ErrNotReleased", err)
	}
}

// A SIGSTOPped node never answers; the round must stop waiting for it at
// the node timeout, not at the client's read timeout. The clients here
// ignore context deadlines and wait 10 s to read, so only the lease
// package's own timer can make the calls return.
func TestPausedNodesDoNotStallBeyondNodeTimeout(t *testing.T) {
	_, cluster := newClient(t, 5)
	nodes := make([]lease.Node, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		rc := redis.NewClient(&redis.Options{Addr: n.Addr, ReadTimeout: 10 * time.Second, MaxRetries: -1})
		t.Cleanup(func() { rc.Close() })
		nodes[i] = rc
	}
	c, err := lease.New(nodes, lease.WithNodeTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Close waits for the requests stuck on paused nodes: resume them first
	// (cleanups run last-in first-out).
	t.Cleanup(func() { c.Close() })
	t.Cleanup(func() {
		for _, n := range cluster.Nodes {
			_ = n.Resume()
		}
	})
	// Warm the connections so that the pause hits established ones.
	l := mustAcquire(t, c, "warm")
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	if err := cluster.Nodes[4].Pause(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l = mustAcquire(t, c, "paused")
	if err := l.Extend(context.Background()); err != nil {
		t.Fatalf("extend with one paused node: %v", err)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatalf("release with one paused node: %v", err)
	}

	for _, i := range []int{2, 3} {
		if err := cluster.Nodes[i].Pause(); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Acquire(context.Background(), "paused")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("acquire with 3 paused nodes: %v, want *NotAcquiredError", err)
	}
	timeouts := 0
	for _, ne := range na.Nodes {
		if errors.Is(ne, lease.ErrNodeTimeout) {
			timeouts++
		}
	}
	if timeouts != 3 {
		t.Fatalf("per-node detail %v: want 3 ErrNodeTimeout", na.Nodes)
	}
	// Four operations each bounded by a 100 ms node timeout (plus undo
	// rounds of the same bound); a read timeout would take 10 s.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("operations with paused nodes took %v: the node timeout was not enforced", elapsed)
	}
}
