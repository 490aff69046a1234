package lease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// Found by trying to break the guarantees from outside: each test below
// failed before its fix.

// A release at a later epoch replaces the holder's tombstone of an earlier
// one, so an attempt between the two epochs stays out.
func TestLaterReleaseReplacesAnEarlierTombstone(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	h := "ns/wf/run/default"
	if err := c.ReleaseHolder(ctx, "zt", h, lease.NewEpoch(100, 1), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "tombstone 100 on every node", func() bool {
		return countOwner(lockValues(t, cluster, "zt"), h+"#"+string(lease.NewEpoch(100, 1))+"#") == 3
	})
	if err := c.ReleaseHolder(ctx, "zt", h, lease.NewEpoch(300, 1), time.Second); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "tombstone 300 on every node", func() bool {
		return countOwner(lockValues(t, cluster, "zt"), h+"#"+string(lease.NewEpoch(300, 1))+"#") == 3
	})
	if l, err := c.Acquire(ctx, "zt", lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(200, 1)), lease.WithTakeover()); err == nil {
		t.Fatalf("epoch 200 acquired (token %d) after a release at epoch 300", l.Token())
	}
	if ttl := cluster.Nodes[0].Client.PTTL(ctx, lockKey("zt")).Val(); ttl < 30*time.Second {
		t.Fatalf("tombstone TTL %v: the longer one (1 min) should be kept", ttl)
	}
	// A release at an earlier epoch leaves the later tombstone alone.
	if err := c.ReleaseHolder(ctx, "zt", h, lease.NewEpoch(150, 1), time.Second); err != nil {
		t.Fatal(err)
	}
	if v := lockValues(t, cluster, "zt")[0]; v != h+"#"+string(lease.NewEpoch(300, 1))+"#" {
		t.Fatalf("an earlier release replaced the later tombstone: %q", v)
	}
}

// A tombstone must not outlive the restart guard: a node that lost it
// could let a late attempt through while it still lives elsewhere.
func TestTombstoneTTLIsBoundedByTheGuard(t *testing.T) {
	c, cluster := newClient(t, 3, lease.WithTTL(time.Second), lease.WithRestartGuard(2*time.Second))
	err := c.ReleaseHolder(context.Background(), "zg", "ns/wf/run/default", lease.NewEpoch(300, 1), 30*time.Second)
	if !errors.Is(err, lease.ErrTTLAboveGuard) || !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("tombstone TTL above the guard: %v, want ErrTTLAboveGuard", err)
	}
	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("a refused release left %d keys", n)
	}
}

// KeepAlive called late, with less than its interval of validity left,
// still extends in time.
func TestKeepAliveCalledLateExtendsInTime(t *testing.T) {
	c, _ := newClient(t, 3, lease.WithNodeTimeout(50*time.Millisecond))
	l := mustAcquire(t, c, "late-keeper", lease.WithLeaseTTL(time.Second))
	waitUntil(t, time.Second, "600 ms into the lease", func() bool { return time.Until(l.ValidUntil()) < 390*time.Millisecond })
	if err := l.KeepAlive(400 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := l.ValidUntil()
	waitUntil(t, 2*time.Second, "an extension past the first deadline", func() bool {
		if err := l.Err(); err != nil {
			t.Fatalf("healthy lease with a running keeper ended: %v", err)
		}
		return l.ValidUntil().After(deadline.Add(100 * time.Millisecond))
	})
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A keep-alive interval that cannot hold is refused before any node is
// touched, also when it is the default TTL/3.
func TestBadKeepAliveChangesNothing(t *testing.T) {
	c, cluster := newClient(t, 3, lease.WithNodeTimeout(100*time.Millisecond))
	_, err := c.Acquire(context.Background(), "zi", lease.WithLeaseTTL(300*time.Millisecond), lease.WithKeepAlive(0))
	if !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("TTL/3 below two node timeouts: %v, want ErrInvalidInput", err)
	}
	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("bad input left %d keys", n)
	}
}

// A release elsewhere stays a release even when, afterwards, a node of the
// lease's bare quorum restarts empty and another node was behind: the
// keeper heals only the restarted node and finds the lease lost.
func TestReleaseElsewhereSurvivesARestartAndALaggingNode(t *testing.T) {
	c, cluster := newClient(t, 3, lease.WithTTL(900*time.Millisecond), lease.WithRestartGuard(2*time.Second))
	other := clientOn(t, cluster, lease.WithTTL(900*time.Millisecond), lease.WithRestartGuard(2*time.Second))
	ctx := context.Background()
	if err := cluster.Nodes[2].Client.Set(ctx, lockKey("zr"), "blocker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, c, "zr", lease.WithKeepAlive(0))
	if err := cluster.Nodes[2].Client.Del(ctx, lockKey("zr")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := other.ReleaseOwner(ctx, "zr", l.Owner()); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(3 * time.Second):
		t.Fatalf("keeper still running: the release was undone; locks %q", lockValues(t, cluster, "zr"))
	}
	if !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("ended with %v, want ErrLost", l.Err())
	}
}

// Close waits for an acquisition in flight, so a failed one still undoes
// what it took.
func TestCloseLetsAFailingAcquisitionUndo(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	c, err := lease.New(cluster.LeaseNodes(), lease.WithNodeTimeout(300*time.Millisecond), lease.WithTTL(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cluster.Nodes[1].Client.Set(ctx, lockKey("zc"), "blocker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[2].Pause(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Acquire(ctx, "zc"); done <- err }()
	waitUntil(t, time.Second, "node 0 granted", func() bool { return lockValues(t, cluster, "zc")[0] != "" })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("acquire: %v, want ErrNotAcquired", err)
	}
	if err := cluster.Nodes[2].Resume(); err != nil {
		t.Fatal(err)
	}
	if v := lockValues(t, cluster, "zc")[0]; v != "" {
		t.Fatalf("the failed acquisition's lock is left on node 0: %q", v)
	}
}

// Extend racing Release reports the release, not a loss.
func TestExtendRacingReleaseReportsReleased(t *testing.T) {
	c, _ := newClient(t, 3)
	ctx := context.Background()
	for range 50 {
		l := mustAcquire(t, c, "race")
		done := make(chan error, 1)
		go func() { done <- l.Extend(ctx) }()
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil && !errors.Is(err, lease.ErrReleased) {
			t.Fatalf("Extend racing Release: %v, want nil or ErrReleased", err)
		}
		if !errors.Is(l.Err(), lease.ErrReleased) {
			t.Fatalf("lease ended with %v, want ErrReleased", l.Err())
		}
	}
}

// A tombstone value is not an owner value: ReleaseOwner refuses it.
func TestReleaseOwnerRefusesATombstone(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	h := "ns/wf/run/default"
	if err := c.ReleaseHolder(ctx, "tomb", h, lease.NewEpoch(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseOwner(ctx, "tomb", h+"#"+string(lease.NewEpoch(1))+"#"); !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("ReleaseOwner of a tombstone: %v, want ErrInvalidInput", err)
	}
	waitUntil(t, 2*time.Second, "the tombstone on every node", func() bool {
		return countOwner(lockValues(t, cluster, "tomb"), h+"#"+string(lease.NewEpoch(1))+"#") == 3
	})
}

// A node key that is not redlease's makes that node fail with a clear
// error; the others carry on.
func TestMalformedNodeKeyIsAPerNodeError(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	if err := cluster.Nodes[0].Client.Set(ctx, nodeKey, "garbage", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Client.Set(ctx, lockKey("odd"), "blocker", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Acquire(ctx, "odd")
	if ne := nodeErr(t, err, 0); ne.Err == nil || !strings.Contains(ne.Err.Error(), "malformed node key") {
		t.Fatalf("node 0: %v", ne.Err)
	}
}

// One empty restart after a lease was released (or taken over) on some of
// its nodes only: the old lease must not heal the restarted node to make up
// a quorum while the new owner holds the lock there.
func TestPartialReleaseAndARestartGiveNoSecondOwner(t *testing.T) {
	c1, cluster := newClient(t, 5, lease.WithTTL(5*time.Second), lease.WithRestartGuard(10*time.Second))
	c2 := clientOn(t, cluster, lease.WithTTL(5*time.Second), lease.WithRestartGuard(10*time.Second))
	ctx := context.Background()
	l1 := mustAcquire(t, c1, "zz")
	settledValues(t, cluster, "zz", l1.Owner())
	for i := range 3 { // a release elsewhere that reached nodes 0-2 only
		if err := cluster.Nodes[i].Client.Del(ctx, lockKey("zz")).Err(); err != nil {
			t.Fatal(err)
		}
	}
	l2 := mustAcquire(t, c2, "zz")
	if err := cluster.Nodes[2].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 20 { // the first request to the restarted node may meet a dead connection
		if err = l1.Extend(ctx); err == nil || errors.Is(err, lease.ErrLost) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil && l1.Valid() && l2.Valid() {
		t.Fatalf("two valid leases: l1 extended by healing node 2; locks %q", lockValues(t, cluster, "zz"))
	}
	if !errors.Is(err, lease.ErrLost) {
		t.Fatalf("l1.Extend: %v, want ErrLost", err)
	}
}
