package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// maxInARow is the documented bound on hand-offs between two announced
// releases of one Client.
const maxInARow = 16

// waitParked returns once n Acquire calls of c are parked waiting for resource.
func waitParked(t *testing.T, c *lease.Client, resource string, n int) {
	t.Helper()
	waitUntil(t, 5*time.Second, fmt.Sprintf("%d parked waiters", n), func() bool { return c.Parked(resource) >= n })
}

// A release hands the lock to the waiter of its own Client: the waiter
// holds it with a higher token, the release announces nothing (a waiter in
// another process would find the lock held), and nothing is left of the
// released lease.
func TestReleaseHandsTheLockToAWaiterOfTheSameClient(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	first, err := c.Acquire(ctx, "handed")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *lease.Lease, 1)
	go func() {
		l, err := c.Acquire(ctx, "handed", lease.WithWait(10*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitParked(t, c, "handed", 1)
	sub := cluster.Nodes[0].Client.Subscribe(ctx, "redlease:{handed}:released")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription is confirmed
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	second := <-got
	if second == nil {
		t.FailNow()
	}
	defer second.Release(ctx)
	if c.Handoffs() != 1 {
		t.Fatalf("%d hand-offs, want 1", c.Handoffs())
	}
	if second.Token() <= first.Token() {
		t.Fatalf("handed-on token %d is not above the released one %d", second.Token(), first.Token())
	}
	for i, v := range lockValues(t, cluster, "handed") {
		if v != second.Owner() {
			t.Fatalf("node %d holds %q, want the waiter's owner value", i, v)
		}
	}
	if msg, err := sub.ReceiveTimeout(ctx, 300*time.Millisecond); err == nil {
		t.Fatalf("a release that handed the lock on announced it: %v", msg)
	}
}

// Goroutines of one Client loop on one resource, so nearly every release
// hands the lock on, while a node pauses and resumes: no two holders
// overlap, every token is higher than the one before, and the waiters are
// served in turn rather than by the releaser barging back in.
func TestHandOffsKeepMutualExclusionAndTokenOrder(t *testing.T) {
	c, cluster := newClient(t, 3)
	var reg leasetest.FencedRegister
	const workers, each = 6, 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		fencedSections(t, c, &reg, "handed-loop", workers, each)
	}()
	time.Sleep(100 * time.Millisecond)
	if err := cluster.Nodes[2].Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if err := cluster.Nodes[2].Resume(); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := reg.Check(); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Log()); n != workers*each {
		t.Fatalf("%d sections, want %d", n, workers*each)
	}
	if c.Handoffs() < workers*each/4 {
		t.Fatalf("only %d of %d releases handed the lock on", c.Handoffs(), workers*each)
	}
	// In turn: with every worker waiting, a releaser that asks again is
	// behind the others, so no worker holds the lock many times in a row.
	run, longest, last := 0, 0, ""
	for _, e := range reg.Log() {
		if e.Holder == last {
			run++
		} else {
			run, last = 1, e.Holder
		}
		longest = max(longest, run)
	}
	if longest > each/2 {
		t.Fatalf("one worker held the lock %d times in a row: waiters are not served in turn", longest)
	}
}

// A waiter that gives up just as a release hands it the lock (its context
// ends after the release chose it, before its acquisition is queued)
// leaves nothing behind: whether it completes the handed attempt (which
// fails and undoes) or abandons it, another client can take the lock at
// once when its Acquire has returned.
func TestAHandOffTheWaiterGaveUpLeavesNothingBehind(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	// Even rounds cancel the waiter when the release has chosen it (it
	// then abandons the hand-off), odd rounds once its acquisition is
	// queued and handed to it (it completes it, with its context done).
	var cancelChosen, cancelQueued atomic.Pointer[context.CancelFunc]
	cancelOn := func(p *atomic.Pointer[context.CancelFunc]) func() {
		return func() {
			if cancel := p.Swap(nil); cancel != nil {
				(*cancel)()
			}
		}
	}
	c := clientOn(t, cluster, lease.WithHandOffHooks(cancelOn(&cancelChosen), cancelOn(&cancelQueued)))
	other := clientOn(t, cluster)
	ctx := context.Background()
	const rounds = 40
	gaveUp := 0
	for i := range rounds {
		holder, err := c.Acquire(ctx, "given-up")
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithCancel(ctx)
		if i%2 == 0 {
			cancelChosen.Store(&cancel)
		} else {
			cancelQueued.Store(&cancel)
		}
		type result struct {
			l   *lease.Lease
			err error
		}
		res := make(chan result, 1)
		go func() {
			l, err := c.Acquire(wctx, "given-up", lease.WithWait(10*time.Second))
			res <- result{l, err}
		}()
		waitParked(t, c, "given-up", 1)
		if err := holder.Release(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-res
		cancel()
		switch {
		case r.err == nil:
			if err := r.l.Release(ctx); err != nil {
				t.Fatal(err)
			}
		case errors.Is(r.err, context.Canceled) && errors.Is(r.err, lease.ErrNotAcquired):
			gaveUp++
		default:
			t.Fatalf("round %d: %v", i, r.err)
		}
		l, err := other.Acquire(ctx, "given-up")
		if err != nil {
			t.Fatalf("round %d: after the waiter returned, another client cannot take the lock: %v (nodes hold %q)", i, err, lockValues(t, cluster, "given-up"))
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c.Handoffs() < rounds*maxInARow/(maxInARow+1) {
		t.Fatalf("%d hand-offs in %d rounds", c.Handoffs(), rounds)
	}
	if c.Abandoned() == 0 || int64(gaveUp) <= c.Abandoned() {
		t.Fatalf("%d waiters gave up, %d abandoned their hand-off: both ways of giving up must be exercised", gaveUp, c.Abandoned())
	}
}

// Close during a hand-off waits for the handed attempt: the waiter either
// holds the lock or, when it fails, has undone what it took, and no
// goroutine is left (TestMain checks).
func TestCloseWaitsForAHandedAttempt(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	closed := make(chan struct{})
	var c *lease.Client
	c = clientOn(t, cluster, lease.WithHandOffHooks(nil, func() {
		go func() { c.Close(); close(closed) }()
	}))
	ctx := context.Background()
	holder, err := c.Acquire(ctx, "closing")
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	var handed *lease.Lease
	go func() {
		l, err := c.Acquire(ctx, "closing", lease.WithWait(10*time.Second))
		handed = l
		res <- err
	}()
	waitParked(t, c, "closing", 1)
	_ = holder.Release(ctx)
	err = <-res
	<-closed
	vals := lockValues(t, cluster, "closing")
	switch {
	case err == nil:
		for i, v := range vals {
			if v != handed.Owner() && v != "" {
				t.Fatalf("node %d holds %q", i, v)
			}
		}
	default:
		for i, v := range vals {
			if v != "" {
				t.Fatalf("the handed attempt failed (%v) but node %d still holds %q after Close", err, i, v)
			}
		}
	}
	if c.Handoffs() != 1 {
		t.Fatalf("%d hand-offs, want 1", c.Handoffs())
	}
}

// Hand-offs do not starve other processes: while goroutines of one Client
// pass a resource between themselves without pause, a waiter of another
// Client still gets it within its wait.
func TestHandOffsLeaveRoomForOtherClients(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	busy := clientOn(t, cluster)
	outsider := clientOn(t, cluster)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				l, err := busy.Acquire(ctx, "busy", lease.WithWait(30*time.Second))
				if err != nil {
					continue
				}
				_ = l.Release(context.Background())
			}
		})
	}
	waitUntil(t, 5*time.Second, "hand-offs between the busy client's goroutines", func() bool { return busy.Handoffs() > 100 })
	l, err := outsider.Acquire(context.Background(), "busy", lease.WithWait(10*time.Second))
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("a waiter of another client starved for 10 s while %d releases were handed on: %v", busy.Handoffs(), err)
	}
	_ = l.Release(context.Background())
}

// Two goroutines of one Client taking turns, one waiter at a time, so the
// line empties at every hand-off: still at most 16 hand-offs in a row, then
// a release is announced (another process's waiter is woken) and not
// handed on.
func TestHandOffChainIsBoundedWhenTheLineEmpties(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	sub := cluster.Nodes[0].Client.Subscribe(ctx, "redlease:{turns}:released")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	held := mustAcquire(t, c, "turns")
	run, longest := 0, 0
	for range 40 {
		got := make(chan *lease.Lease, 1)
		go func() {
			l, err := c.Acquire(ctx, "turns", lease.WithWait(10*time.Second))
			if err != nil {
				t.Error(err)
			}
			got <- l
		}()
		waitParked(t, c, "turns", 1)
		before := c.Handoffs()
		if err := held.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if held = <-got; held == nil {
			t.FailNow()
		}
		if c.Handoffs() > before {
			run++
		} else {
			run = 0
		}
		longest = max(longest, run)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	announced := 0
	for done := false; !done; {
		select {
		case <-sub.Channel():
			announced++
		case <-time.After(300 * time.Millisecond):
			done = true
		}
	}
	if longest > maxInARow || c.Handoffs() < 30 {
		t.Fatalf("%d hand-offs, longest run %d: want runs of at most 16 and most releases handed on", c.Handoffs(), longest)
	}
	if announced < 3 { // two breaks of the chain, and the last release
		t.Fatalf("%d releases announced in 41, want at least 3", announced)
	}
}
