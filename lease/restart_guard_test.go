package lease_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// holdBareQuorum acquires resource so that it sits on nodes 0, 1 and 2 of
// five only: nodes 3 and 4 are down during the acquisition and come back
// afterwards as new nodes (InitNode: they never granted a lock). (A blocker
// value on nodes 3 and 4, deleted once Acquire returns, would race with the
// acquisition's requests still on their way there.)
func holdBareQuorum(t *testing.T, c *lease.Client, cluster *leasetest.Cluster, resource string, opts ...lease.AcquireOption) *lease.Lease {
	t.Helper()
	ctx := context.Background()
	for _, i := range []int{3, 4} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	l := mustAcquire(t, c, resource, opts...)
	for _, i := range []int{3, 4} {
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
		initRestarted(t, cluster.Nodes[i])
	}
	waitUntil(t, 2*time.Second, "the lease on nodes 0-2", func() bool {
		return countOwner(lockValues(t, cluster, resource)[:3], l.Owner()) == 3
	})
	if vals := lockValues(t, cluster, resource); vals[3] != "" || vals[4] != "" {
		t.Fatalf("nodes 3 and 4 hold %q", vals[3:])
	}
	return l
}

// nodeErr returns the per-node detail of node i in a NotAcquiredError.
func nodeErr(t *testing.T, err error, i int) *lease.NodeError {
	t.Helper()
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("got %v, want *NotAcquiredError", err)
	}
	ne := findNodeErr(err, i)
	if ne == nil {
		t.Fatalf("no detail for node %d in %v", i, err)
	}
	return ne
}

// findNodeErr is node i's detail in a NotAcquiredError, or nil: a round
// returns once its outcome is known, so a late node may be missing.
func findNodeErr(err error, i int) *lease.NodeError {
	var na *lease.NotAcquiredError
	if errors.As(err, &na) {
		for _, ne := range na.Nodes {
			if ne.Node == i {
				return ne
			}
		}
	}
	return nil
}

// I7, the reproduction: a lease on a bare quorum {0,1,2} of five,
// node 0 restarts empty, and a second client asks for the lock. Without the
// restart guard it gets {0,3,4} while the first lease is valid: two owners.
// With it, node 0 refuses (ErrNodeGuarded, and until when), so the second
// client gets the lock only once the first lease has ended.
func TestRestartedEmptyNodeInBareQuorumGivesNoSecondOwner(t *testing.T) {
	guard := 1500 * time.Millisecond
	c, cluster := newClient(t, 5, lease.WithTTL(time.Second), lease.WithRestartGuard(guard))
	other := clientOn(t, cluster, lease.WithTTL(time.Second), lease.WithRestartGuard(guard))
	ctx := context.Background()
	first := holdBareQuorum(t, c, cluster, "bare")
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}

	restarted := time.Now()
	var second *lease.Lease
	sawGuard := false
	waitUntil(t, 5*time.Second, "the second client gets the lock", func() bool {
		l, err := other.Acquire(ctx, "bare")
		if err == nil {
			second = l
			return true
		}
		if errors.Is(err, lease.ErrInvalidInput) {
			t.Fatal(err)
		}
		if first.Valid() {
			// While the first lease is valid, node 0 must be refusing as
			// guarded (not as failed: its first request may meet a dead
			// connection and fail once).
			if ne := findNodeErr(err, 0); ne != nil && errors.Is(ne.Err, lease.ErrNodeGuarded) {
				sawGuard = true
				if until := time.Until(ne.GuardedUntil); until <= 0 || until > guard+100*time.Millisecond {
					t.Fatalf("node 0 guarded for %v more, want within (0, %v]", until, guard)
				}
			}
		}
		return false
	})
	if first.Valid() || first.Err() == nil {
		t.Fatalf("second owner while the first lease is valid (err %v)", first.Err())
	}
	if !sawGuard {
		t.Fatal("node 0 never answered ErrNodeGuarded")
	}
	// The second lease came from nodes 1-4 once the first expired; node 0,
	// still guarded, took no part.
	if v := lockValues(t, cluster, "bare")[0]; v == second.Owner() && time.Since(restarted) < guard {
		t.Fatalf("the restarted node granted inside its %v guard", guard)
	}
	if second.Token() <= first.Token() {
		t.Fatalf("token %d not above %d", second.Token(), first.Token())
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Extend, healing and Release keep working on a guarded node: a holder's
// keeper puts its lock back on the restarted node and the lease lives on
// through the guard; Release then clears every node.
func TestGuardedNodeStillExtendsHealsAndReleases(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithTTL(time.Second), lease.WithRestartGuard(3*time.Second))
	ctx := context.Background()
	l := mustAcquire(t, c, "healed", lease.WithKeepAlive(0))
	settledValues(t, cluster, "healed", l.Owner())
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "an acquisition finds node 0 and starts its guard", func() bool {
		p, err := c.Acquire(ctx, "probe")
		if err == nil {
			_ = p.Release(ctx)
		}
		return guardLeft(t, cluster.Nodes[0]) > 0
	})
	waitUntil(t, 3*time.Second, "the keeper heals node 0", func() bool {
		return lockValues(t, cluster, "healed")[0] == l.Owner()
	})
	if guardLeft(t, cluster.Nodes[0]) <= 0 {
		t.Fatal("node 0 left its guard early")
	}
	if err := l.Err(); err != nil {
		t.Fatalf("lease ended on a healthy quorum: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	waitReleased(t, cluster, "healed")
}

// A lease on a bare quorum that loses one node's copy with its data cannot
// prove a quorum any more: it ends lost at its deadline (the holder learns
// it) rather than living on by healing the restarted node.
func TestBareQuorumLeaseLosingANodeEndsLost(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithTTL(time.Second), lease.WithRestartGuard(3*time.Second))
	ctx := context.Background()
	l := holdBareQuorum(t, c, cluster, "bare-lost", lease.WithKeepAlive(0))
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the lease lives on without a quorum")
	}
	if !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("ended with %v, want ErrLost", l.Err())
	}
}

// guardLeft is what is left of node's restart guard window, by its clock
// (the node key is "guard:window:since:state").
func guardLeft(t *testing.T, node *leasetest.Node) time.Duration {
	t.Helper()
	ctx := context.Background()
	v, err := node.Client.Get(ctx, nodeKey).Result()
	if errors.Is(err, redis.Nil) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(v, ":")
	if len(parts) != 4 {
		t.Fatalf("node key %q", v)
	}
	now, err := node.Client.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	window, since := atoi(t, parts[1]), atoi(t, parts[2])
	return time.Duration(since+window-now.UnixMilli()) * time.Millisecond
}

func atoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// A node restarted with its data (an RDB snapshot kept the node key and the
// locks) is not guarded; one restarted empty, or flushed, is.
func TestOnlyANodeThatLostItsDataIsGuarded(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	l := mustAcquire(t, c, "kept")
	settledValues(t, cluster, "kept", l.Owner())
	if err := cluster.Nodes[0].RestartWithData(ctx); err != nil {
		t.Fatal(err)
	}
	if v := lockValues(t, cluster, "kept")[0]; v != l.Owner() {
		t.Fatalf("node 0 restarted with its data holds %q, want the lease", v)
	}
	waitUntil(t, 2*time.Second, "an acquisition reaches the restarted node", func() bool {
		p, err := c.Acquire(ctx, "after-restart")
		if err != nil {
			return false
		}
		_ = p.Release(ctx)
		return true
	})
	if left := guardLeft(t, cluster.Nodes[0]); left > 0 {
		t.Fatalf("node restarted with its data is guarded for %v", left)
	}

	if err := cluster.Nodes[1].Client.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Acquire(ctx, "after-flush", lease.WithWait(0))
	if err != nil {
		t.Fatalf("nodes 0 and 2 should grant: %v", err)
	}
	// Acquire returns at a quorum; node 1's answer may still be on its way.
	waitUntil(t, 2*time.Second, "the flushed node guards itself", func() bool {
		return guardLeft(t, cluster.Nodes[1]) > 0
	})
	if left := guardLeft(t, cluster.Nodes[1]); left > lease.DefaultRestartGuard+time.Second {
		t.Fatalf("flushed node guarded for %v, want at most %v", left, lease.DefaultRestartGuard)
	}
	if v := lockValues(t, cluster, "after-flush")[1]; v != "" {
		t.Fatalf("the guarded node granted %q", v)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A brand-new node that nobody initialised sits out the guard; InitNode
// declares it ready, and leaves a node that is already guarded guarded.
func TestInitNodeDeclaresOnlyNewNodesReady(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	if err := cluster.Nodes[2].Restart(ctx); err != nil { // now like a brand-new node
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Client.Set(ctx, lockKey("fresh"), "blocker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var err error
	waitUntil(t, 2*time.Second, "node 2 answers", func() bool {
		_, err = c.Acquire(ctx, "fresh")
		var na *lease.NotAcquiredError
		return errors.As(err, &na) && len(na.Nodes) == 2 && errors.Is(nodeErr(t, err, 2).Err, lease.ErrNodeGuarded)
	})
	if na := new(lease.NotAcquiredError); !errors.As(err, &na) || na.RetryAfter <= 0 {
		t.Fatalf("no retry hint: %v", err)
	}
	created, err := lease.InitNode(ctx, cluster.Nodes[2].Client)
	if err != nil || created {
		t.Fatalf("InitNode on a guarded node: created %v, err %v; want it left guarded", created, err)
	}
	if guardLeft(t, cluster.Nodes[2]) <= 0 {
		t.Fatal("InitNode ended a guard")
	}

	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	ready, err := c.InitNodes(ctx)
	if err != nil || len(ready) != 1 || ready[0] != 0 {
		t.Fatalf("InitNodes declared %v ready (err %v), want only node 0", ready, err)
	}
	waitUntil(t, 2*time.Second, "node 0 grants", func() bool {
		_, err := c.Acquire(ctx, "fresh") // nodes 1 (blocked) and 2 (guarded) refuse
		var na *lease.NotAcquiredError
		return errors.As(err, &na) && na.Acquired == 1 && len(na.Nodes) == 2
	})
	if _, err := lease.InitNode(ctx, nil); !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("InitNode(nil): %v", err)
	}
}

// Clients with different TTLs on the same nodes: the guard must cover the
// longest. A TTL above the client's own guard is refused before any node is
// touched; a node refuses a client whose guard is shorter than one it has
// seen; and a node that lost its data keeps the longest guard asked of it,
// counted from when the loss was found, whoever found it first.
func TestRestartGuardCoversTheLongestTTL(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	ctx := context.Background()
	newC := func(guard time.Duration) *lease.Client {
		return clientOn(t, cluster, lease.WithTTL(time.Second), lease.WithRestartGuard(guard))
	}
	if _, err := lease.New(cluster.LeaseNodes(), lease.WithTTL(2*time.Minute)); !errors.Is(err, lease.ErrTTLAboveGuard) || !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("New with a TTL above the default guard: %v, want ErrTTLAboveGuard", err)
	}
	short, long := newC(2*time.Second), newC(4*time.Second)
	if _, err := short.Acquire(ctx, "mix", lease.WithLeaseTTL(3*time.Second)); !errors.Is(err, lease.ErrTTLAboveGuard) {
		t.Fatalf("TTL above the guard: %v, want ErrTTLAboveGuard", err)
	}
	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("a refused TTL left %d keys", n)
	}

	l := mustAcquire(t, long, "mix", lease.WithLeaseTTL(4*time.Second))
	_, err := short.Acquire(ctx, "other")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) || len(na.Nodes) < 2 {
		t.Fatalf("the shorter guard: %v, want refusals from a majority", err)
	}
	for _, ne := range na.Nodes { // the round stops at a majority: which nodes is not fixed
		if !errors.Is(ne.Err, lease.ErrGuardMismatch) || ne.Guard != 4*time.Second {
			t.Fatalf("node %d answered the shorter guard with %v (node guard %v), want ErrGuardMismatch, 4s", ne.Node, ne.Err, ne.Guard)
		}
	}

	// Node 1 restarts empty and the short-guard client finds it first.
	if err := cluster.Nodes[1].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the short-guard client starts node 1's guard", func() bool {
		_, _ = short.Acquire(ctx, "other")
		return guardLeft(t, cluster.Nodes[1]) > 0
	})
	if left := guardLeft(t, cluster.Nodes[1]); left > 2100*time.Millisecond {
		t.Fatalf("node 1 guarded for %v, want the short guard", left)
	}
	_, _ = long.Acquire(ctx, "another") // node 1 still guarded: the acquisition may fail
	// The round returns at a quorum: node 1 may run its request just after.
	waitUntil(t, time.Second, "node 1 guarded for about 4s after the long-guard client", func() bool {
		return guardLeft(t, cluster.Nodes[1]) >= 3*time.Second
	})
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Spans and metrics say which node is guarded and until when.
func TestGuardIsObservable(t *testing.T) {
	spans, reader, c, cluster := observedClient(t)
	ctx := context.Background()
	if err := cluster.Nodes[2].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Client.Set(ctx, lockKey("seen"), "blocker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "node 2 answers as guarded", func() bool {
		_, err := c.Acquire(ctx, "seen")
		ne := findNodeErr(err, 2)
		return ne != nil && errors.Is(ne.Err, lease.ErrNodeGuarded)
	})
	var until int64
	for _, s := range spans.Ended() {
		for _, ev := range s.Events() {
			for _, kv := range ev.Attributes {
				if kv.Key == lease.AttrNodeGuardedUntil {
					until = kv.Value.AsInt64()
				}
			}
		}
	}
	if left := time.Until(time.UnixMilli(until)); left <= 0 || left > lease.DefaultRestartGuard+time.Second {
		t.Fatalf("span event says guarded until %v (%v from now)", time.UnixMilli(until), left)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var count int64
	var gauge float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name == lease.MetricNodeGuarded {
					for _, p := range d.DataPoints {
						if v, _ := p.Attributes.Value(lease.AttrNode); v.AsInt64() == 2 {
							count += p.Value
						}
					}
				}
			case metricdata.Gauge[float64]:
				if m.Name == lease.MetricNodeGuardedUntil {
					for _, p := range d.DataPoints {
						if v, _ := p.Attributes.Value(lease.AttrNode); v.AsInt64() == 2 {
							gauge = p.Value
						}
					}
				}
			}
		}
	}
	if count < 1 {
		t.Fatalf("%s for node 2: %d", lease.MetricNodeGuarded, count)
	}
	if left := time.Until(time.UnixMilli(int64(gauge * 1000))); left <= 0 || left > lease.DefaultRestartGuard+time.Second {
		t.Fatalf("%s for node 2 is %v from now", lease.MetricNodeGuardedUntil, left)
	}
}

// A majority restarted empty while a lease lives: outside plain Redlock's
// assumptions (the restarted nodes forgot the lease), but the guard keeps
// them from granting until the lease has expired.
func TestMajorityRestartedEmptyGivesNoSecondOwner(t *testing.T) {
	guard := 1500 * time.Millisecond
	c, cluster := newClient(t, 5, lease.WithTTL(time.Second), lease.WithRestartGuard(guard))
	other := clientOn(t, cluster, lease.WithTTL(time.Second), lease.WithRestartGuard(guard))
	ctx := context.Background()
	first := mustAcquire(t, c, "majority-empty")
	settledValues(t, cluster, "majority-empty", first.Owner())
	for _, i := range []int{0, 1, 2} {
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var second *lease.Lease
	waitUntil(t, 5*time.Second, "the second client gets the lock", func() bool {
		l, err := other.Acquire(ctx, "majority-empty")
		second = l
		return err == nil
	})
	if first.Valid() || first.Err() == nil {
		t.Fatalf("second owner while the first lease is valid (err %v)", first.Err())
	}
	if second.Token() <= first.Token() {
		t.Fatalf("token %d not above %d", second.Token(), first.Token())
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
