package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/redlease/redlease/lease"
)

// The keeper keeps a lease alive across many TTLs; Release stops it and
// ends the lease's context with cause ErrReleased.
func TestKeeperKeepsLeaseAliveAcrossManyTTLs(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithNodeTimeout(100*time.Millisecond))
	ctx := context.Background()
	const ttl = 600 * time.Millisecond
	l := mustAcquire(t, c, "kept", lease.WithLeaseTTL(ttl), lease.WithKeepAlive(0))
	work, stop := l.Context(ctx)
	defer stop()
	if err := l.KeepAlive(0); !errors.Is(err, lease.ErrKeeperRunning) {
		t.Fatalf("second KeepAlive: %v, want ErrKeeperRunning", err)
	}

	end := time.Now().Add(6 * ttl)
	for time.Now().Before(end) {
		if _, err := c.Acquire(ctx, "kept"); !errors.Is(err, lease.ErrNotAcquired) {
			t.Fatalf("another acquire while kept: %v, want ErrNotAcquired", err)
		}
		if !l.Valid() || l.Err() != nil {
			t.Fatalf("kept lease invalid after %v: err %v", time.Until(end), l.Err())
		}
		time.Sleep(ttl / 4)
	}
	if countOwner(lockValues(t, cluster, "kept"), l.Owner()) < c.Quorum() {
		t.Fatal("kept lease no longer on a quorum of nodes")
	}

	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after Release")
	}
	if !errors.Is(l.Err(), lease.ErrReleased) || !errors.Is(context.Cause(work), lease.ErrReleased) {
		t.Fatalf("after release: Err %v, context cause %v; want ErrReleased", l.Err(), context.Cause(work))
	}
}

// I4: when a majority of nodes dies, the keeper cannot extend, and the
// holder learns of the loss (Done, context cause ErrLost) before the
// validity deadline.
func TestKeeperSignalsLossBeforeValidityDeadline(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithNodeTimeout(100*time.Millisecond))
	l := mustAcquire(t, c, "doomed", lease.WithLeaseTTL(time.Second), lease.WithKeepAlive(300*time.Millisecond))
	work, stop := l.Context(context.Background())
	defer stop()
	for _, i := range []int{0, 2, 4} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-work.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("loss not signalled within 5 s")
	}
	observed := time.Now()
	if deadline := l.ValidUntil(); !observed.Before(deadline) {
		t.Fatalf("loss observed %v after the validity deadline", observed.Sub(deadline))
	}
	if !errors.Is(context.Cause(work), lease.ErrLost) || !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("cause %v, Err %v: want ErrLost", context.Cause(work), l.Err())
	}
	if l.Valid() {
		t.Fatal("lost lease reports Valid")
	}
	if err := l.Extend(context.Background()); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("extend after loss: %v, want ErrLost", err)
	}
	if err := l.Release(context.Background()); !errors.Is(err, lease.ErrNotReleased) {
		t.Fatalf("release with 3 of 5 dead: %v, want ErrNotReleased", err)
	}
	if !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("Err after release of a lost lease: %v, want ErrLost (the first cause)", l.Err())
	}
}

// Without a keeper, the lease ends at its validity deadline, not before.
func TestUnkeptLeaseEndsAtValidityDeadline(t *testing.T) {
	c, _ := newClient(t, 3, lease.WithNodeTimeout(100*time.Millisecond))
	l := mustAcquire(t, c, "unkept", lease.WithLeaseTTL(500*time.Millisecond))
	select {
	case <-l.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("unkept lease did not end")
	}
	if early := l.ValidUntil().Sub(time.Now()); early > 0 {
		t.Fatalf("ended %v before its validity deadline", early)
	}
	if !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("Err %v, want ErrLost", l.Err())
	}
	if err := l.KeepAlive(0); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("KeepAlive on a lost lease: %v, want ErrLost", err)
	}
}

// A waiter wakes on the release message, not on its backoff: with a
// 10-second constant backoff, only the wake-up can hand the lease over
// within a second. One node is dead: the other nodes' messages suffice.
func TestWaiterWakesOnReleaseNotOnBackoff(t *testing.T) {
	slow := func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Second) }
	metrics, contended := contention(t)
	c, cluster := newClient(t, 5, lease.WithRetryBackOff(slow), metrics)
	if err := cluster.Nodes[0].Kill(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for round := range 3 {
		holder := mustAcquire(t, c, "handoff")
		before := contended()
		type result struct {
			l   *lease.Lease
			err error
			at  time.Time
		}
		got := make(chan result, 1)
		go func() {
			l, err := c.Acquire(ctx, "handoff", lease.WithWait(time.Minute))
			got <- result{l, err, time.Now()}
		}()
		// The waiter has failed once and sleeps on its 10 s backoff.
		waitForWaiter(t, cluster, "handoff", contended, before)
		released := time.Now()
		if err := holder.Release(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("round %d: waiter: %v", round, r.err)
			}
			t.Logf("round %d: handoff in %v", round, r.at.Sub(released))
			if err := r.l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Second):
			t.Fatalf("round %d: waiter not woken within 1 s of the release (its backoff is 10 s)", round)
		}
	}
}

// Detach stops the keeper and the watchdog without touching the nodes:
// the same holder takes the lock over, nobody else can.
func TestDetachLeavesLockForTakeover(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	l := mustAcquire(t, c, "handed", lease.WithHolder("wf/1"), lease.WithKeepAlive(0))
	before := settledValues(t, cluster, "handed", l.Owner())
	l.Detach()
	if !errors.Is(l.Err(), lease.ErrDetached) {
		t.Fatalf("Err %v, want ErrDetached", l.Err())
	}
	if err := l.Extend(ctx); !errors.Is(err, lease.ErrDetached) {
		t.Fatalf("extend after Detach: %v, want ErrDetached", err)
	}
	assertUnchanged(t, cluster, "handed", before, "Detach")
	if _, err := c.Acquire(ctx, "handed", lease.WithHolder("wf/2"), lease.WithTakeover()); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("other holder: %v, want ErrNotAcquired", err)
	}
	next := mustAcquire(t, c, "handed", lease.WithHolder("wf/1"), lease.WithTakeover())
	if next.Token() <= l.Token() {
		t.Fatalf("takeover token %d not above %d", next.Token(), l.Token())
	}
	if err := next.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Every keep-alive interval the check accepts keeps a lease alive on a
// healthy cluster: with TTL 1 s and a 200 ms node timeout, 787 ms (below
// TTL − drift − node timeout, which the check used to accept) is refused,
// and the longest interval accepted survives many extensions.
func TestEveryAcceptedKeepAliveIntervalHoldsOnAHealthyCluster(t *testing.T) {
	c, _ := newClient(t, 3, lease.WithNodeTimeout(200*time.Millisecond), lease.WithTTL(time.Second))
	ctx := context.Background()
	if _, err := c.Acquire(ctx, "tight", lease.WithKeepAlive(787*time.Millisecond)); !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("787 ms keep-alive with TTL 1 s and node timeout 200 ms: %v, want ErrInvalidInput", err)
	}
	// TTL 1 s − drift 12 ms − 2 × 200 ms = 588 ms: the longest accepted is just below.
	if _, err := c.Acquire(ctx, "tight", lease.WithKeepAlive(588*time.Millisecond)); !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("588 ms keep-alive: %v, want ErrInvalidInput", err)
	}
	l := mustAcquire(t, c, "tight", lease.WithKeepAlive(587*time.Millisecond))
	extended := l.ValidUntil()
	for moves := 0; moves < 5; {
		select {
		case <-l.Done():
			t.Fatalf("lease ended after %d extensions: %v", moves, l.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if v := l.ValidUntil(); v.After(extended.Add(100 * time.Millisecond)) {
			extended, moves = v, moves+1
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
