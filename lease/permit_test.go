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
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Goroutines take 3 permits of one resource over and over through a node
// pause: never more than 3 hold one at once, no two share a slot (a fenced
// register per slot), and permits do run side by side.
func TestPermitsNeverExceedTheLimit(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	const limit = 3
	regs := make([]leasetest.FencedRegister, limit)
	var inside, most atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for range 25 {
					p, err := c.AcquirePermit(ctx, "pool", limit, lease.WithWait(20*time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					n := inside.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					if err := regs[p.Slot()].Enter(p.Token(), fmt.Sprint("worker ", w)); err != nil {
						t.Error(err)
					}
					time.Sleep(3 * time.Millisecond)
					regs[p.Slot()].Exit(p.Token())
					inside.Add(-1)
					if err := p.Release(ctx); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}()
	pauseAWhile(t, cluster.Nodes[2])
	<-done
	checkSlots(t, regs, most.Load(), limit)
	if c.Handoffs() == 0 {
		t.Fatal("no release handed its slot on: the hand-off path went untested")
	}
	t.Logf("%d of %d releases handed their slot on", c.Handoffs(), 8*25)
}

// The placement a per-node holder count would allow: with 3 nodes and 2
// permits, A on nodes {0,1} and B on {1,2} leave nodes 0 and 2 with one
// holder each, yet a third permit must not be granted.
func TestAThirdPermitOnTheLeastLoadedNodesIsRefused(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	acquireWithout := func(down int) *lease.Permit {
		t.Helper()
		if err := cluster.Nodes[down].Pause(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := cluster.Nodes[down].Resume(); err != nil {
				t.Fatal(err)
			}
		}()
		p, err := c.AcquirePermit(ctx, "two", 2)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := acquireWithout(2) // on nodes 0 and 1
	b := acquireWithout(0) // slot 0 is held on node 1: B takes slot 1 on nodes 1 and 2
	if a.Slot() == b.Slot() {
		t.Fatalf("A and B share slot %d", a.Slot())
	}
	_, err := c.AcquirePermit(ctx, "two", 2)
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("a third permit of two: %v, want not acquired", err)
	}
	if !a.Valid() || !b.Valid() {
		t.Fatal("A or B lost")
	}
	_ = a.Release(ctx)
	_ = b.Release(ctx)
}

// Every caller must use the same limit: a call with another one gets an
// invalid-input error matching ErrPermitLimit and writes nothing; bad
// limits and options are refused before any node is touched.
func TestPermitLimitsAndBadInput(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	for name, limit := range map[string]int{"zero": 0, "negative": -1, "huge": lease.MaxPermits + 1} {
		if _, err := c.AcquirePermit(ctx, "limits", limit); !errors.Is(err, lease.ErrInvalidInput) {
			t.Fatalf("%s limit: %v", name, err)
		}
	}
	if _, err := c.AcquirePermit(ctx, "limits", 2, lease.WithHolder("h")); !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("WithHolder: %v", err)
	}
	if keys := cluster.Nodes[0].Client.Keys(ctx, "redlease:{limits}*").Val(); len(keys) != 0 {
		t.Fatalf("refused calls wrote %v", keys)
	}
	p, err := c.AcquirePermit(ctx, "limits", 2)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the permit on every node", func() bool { // Acquire returns at a quorum
		for _, n := range cluster.Nodes {
			if n.Client.Exists(ctx, fmt.Sprintf("redlease:{limits}:permit:%d", p.Slot())).Val() != 1 {
				return false
			}
		}
		return true
	})
	for _, other := range []int{1, 3} {
		before := make([][]string, len(cluster.Nodes))
		for i, n := range cluster.Nodes {
			before[i] = n.Client.Keys(ctx, "redlease:{limits}*").Val()
		}
		_, err := c.AcquirePermit(ctx, "limits", other)
		if !errors.Is(err, lease.ErrInvalidInput) || !errors.Is(err, lease.ErrPermitLimit) {
			t.Fatalf("limit %d after 2: %v, want ErrPermitLimit", other, err)
		}
		for i, n := range cluster.Nodes {
			if after := n.Client.Keys(ctx, "redlease:{limits}*").Val(); len(after) != len(before[i]) {
				t.Fatalf("limit %d: node %d keys %v → %v", other, i, before[i], after)
			}
			if v := n.Client.Get(ctx, "redlease:{limits}:permits:limit").Val(); v != "2" {
				t.Fatalf("node %d records limit %q", i, v)
			}
		}
	}
	if err := p.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Tokens grow across all permits of a resource, so a resource that keeps
// the last token per slot refuses a permit holder whose permit expired
// once the slot's next holder has written.
func TestPermitTokensFenceAStaleHolder(t *testing.T) {
	c, _ := newClient(t, 3)
	ctx := context.Background()
	const limit = 2
	var reg [limit]leasetest.FencedRegister
	var stale [limit]*lease.Permit
	last := int64(0)
	for range limit {
		p, err := c.AcquirePermit(ctx, "fenced", limit, lease.WithLeaseTTL(600*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if p.Token() <= last {
			t.Fatalf("token %d after %d", p.Token(), last)
		}
		last = p.Token()
		stale[p.Slot()] = p
	}
	<-stale[0].Done() // both expire: nobody extends them
	<-stale[1].Done()
	fresh, err := c.AcquirePermit(ctx, "fenced", limit, lease.WithWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Token() <= last {
		t.Fatalf("fresh token %d is not above %d", fresh.Token(), last)
	}
	s := fresh.Slot()
	if err := reg[s].Enter(fresh.Token(), "fresh"); err != nil {
		t.Fatal(err)
	}
	reg[s].Exit(fresh.Token())
	if err := reg[s].Enter(stale[s].Token(), "stale"); !errors.Is(err, leasetest.ErrStaleToken) {
		t.Fatalf("the stale holder of slot %d got in: %v", s, err)
	}
	_ = fresh.Release(ctx)
}

// A node that lost its data and met a misconfigured caller first records
// the wrong limit; that minority refuses nobody: callers with the limit a
// quorum records still get permits, and the wrong record is replaced.
func TestAMinorityLimitRecordTrapsNobody(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	p, err := c.AcquirePermit(ctx, "minority", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[2].Client.Set(ctx, "redlease:{minority}:permits:limit", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Callers the quorum agrees with are not refused, and the record is
	// replaced once a successful call heard node 2's answer (the rounds
	// stop at a quorum: it may take a few).
	replaced := func() bool {
		return cluster.Nodes[2].Client.Get(ctx, "redlease:{minority}:permits:limit").Val() == "3"
	}
	for deadline := time.Now().Add(5 * time.Second); !replaced(); {
		if time.Now().After(deadline) {
			t.Fatal("node 2's record was not replaced within 5 s of successful calls")
		}
		var held []*lease.Permit
		for range 3 {
			q, err := c.AcquirePermit(ctx, "minority", 3)
			if err != nil {
				t.Fatalf("a minority's limit record refused a caller a quorum agrees with: %v", err)
			}
			held = append(held, q)
		}
		for _, q := range held {
			_ = q.Release(ctx)
		}
		time.Sleep(20 * time.Millisecond) // the repair is sent in the background
	}
}

// Each slot has its own fence counter, so extensions heal every permit onto
// a node restarted empty, whatever order they run in, and the permits
// survive a second node's restart as leases do.
func TestPermitsHealOntoARestartedNodeInAnyOrder(t *testing.T) {
	c, cluster := newClient(t, 3, lease.WithTTL(2*time.Second), lease.WithRestartGuard(2*time.Second))
	ctx := context.Background()
	var ps []*lease.Permit
	for range 2 {
		p, err := c.AcquirePermit(ctx, "heal", 2)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if ps[0].Token() < ps[1].Token() {
		ps[0], ps[1] = ps[1], ps[0] // the higher token extends first
	}
	if err := cluster.Nodes[2].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Extend(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 2*time.Second, "both permits healed onto node 2", func() bool {
		for _, p := range ps {
			if cluster.Nodes[2].Client.Exists(ctx, fmt.Sprintf("redlease:{heal}:permit:%d", p.Slot())).Val() != 1 {
				return false
			}
		}
		return true
	})
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := p.Extend(ctx); err != nil {
			t.Fatalf("slot %d after two restarts: %v", p.Slot(), err)
		}
	}
}

// A permit acquisition has its own span: the acquisition's attributes plus
// the slot and the limit.
func TestPermitSpan(t *testing.T) {
	spans, _, c, _ := observedClient(t)
	ctx := context.Background()
	p, err := c.AcquirePermit(ctx, "traced-permits", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(ctx)
	for _, s := range spans.Ended() {
		if s.Name() != lease.SpanAcquirePermit {
			continue
		}
		a := attrs(s)
		want := map[string]string{
			string(lease.AttrPermitSlot): fmt.Sprint(p.Slot()), string(lease.AttrPermitLimit): "4",
			string(lease.AttrToken): fmt.Sprint(p.Token()), string(lease.AttrOutcome): lease.OutcomeAcquired,
			string(lease.AttrResource): "traced-permits",
		}
		for k, v := range want {
			if got := a[attribute.Key(k)]; got != v {
				t.Fatalf("%s = %q, want %q (all: %v)", k, got, v, a)
			}
		}
		return
	}
	t.Fatalf("no %s span", lease.SpanAcquirePermit)
}

// MetricPermitsHeld follows the permits this Client holds: up at each
// acquisition, down when a permit is released and when one expires.
func TestPermitsHeldMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	c, _ := newClient(t, 3, lease.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	ctx := context.Background()
	held := func() int64 { return counterSum(t, reader, lease.MetricPermitsHeld) }
	var ps []*lease.Permit
	for range 3 {
		p, err := c.AcquirePermit(ctx, "metered", 4, lease.WithLeaseTTL(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if n := held(); n != 3 {
		t.Fatalf("%d permits held by the metric, want 3", n)
	}
	if err := ps[0].Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 2 {
		t.Fatalf("after a release: %d, want 2", n)
	}
	if err := ps[1].KeepAlive(0); err != nil {
		t.Fatal(err)
	}
	<-ps[2].Done() // nobody extends it: it expires
	if n := held(); n != 1 {
		t.Fatalf("after an expiry: %d, want 1", n)
	}
	if err := ps[1].Release(ctx); err != nil {
		t.Fatal(err)
	}
	if n := held(); n != 0 {
		t.Fatalf("after the last release: %d, want 0", n)
	}
}

// A permit's release hands its slot to a waiting AcquirePermit of the same
// Client and limit: the waiter gets that slot with a higher token, and the
// release announces nothing.
func TestAPermitReleaseHandsTheSlotToAWaiter(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			c, cluster := newClient(t, 3)
			ctx := context.Background()
			var held []*lease.Permit
			for range limit {
				p, err := c.AcquirePermit(ctx, "handed", limit)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, p)
			}
			got := make(chan *lease.Permit, 1)
			go func() {
				p, err := c.AcquirePermit(ctx, "handed", limit, lease.WithWait(10*time.Second))
				if err != nil {
					t.Error(err)
				}
				got <- p
			}()
			waitUntil(t, 5*time.Second, "the waiter parked", func() bool { return c.ParkedPermits("handed") == 1 })
			sub := cluster.Nodes[0].Client.Subscribe(ctx, "redlease:{handed}:permits:released")
			defer sub.Close()
			if _, err := sub.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			// Parked again (its backoff step may have come meanwhile): only a
			// parked waiter is handed the slot.
			waitUntil(t, 5*time.Second, "the waiter parked", func() bool { return c.ParkedPermits("handed") == 1 })
			released := held[limit-1]
			if err := released.Release(ctx); err != nil {
				t.Fatal(err)
			}
			p := <-got
			if p == nil {
				t.FailNow()
			}
			defer p.Release(ctx)
			if c.Handoffs() != 1 {
				t.Fatalf("%d hand-offs, want 1", c.Handoffs())
			}
			if p.Slot() != released.Slot() || p.Token() <= released.Token() || p.Limit() != limit {
				t.Fatalf("handed permit slot %d token %d limit %d; released slot %d token %d", p.Slot(), p.Token(), p.Limit(), released.Slot(), released.Token())
			}
			if msg, err := sub.ReceiveTimeout(ctx, 300*time.Millisecond); err == nil {
				t.Fatalf("a release that handed the slot on announced it: %v", msg)
			}
			for _, q := range held[:limit-1] {
				if !q.Valid() {
					t.Fatal("another permit was disturbed")
				}
				_ = q.Release(ctx)
			}
		})
	}
}

// A permit's release hands its slot only to a waiter of the same limit.
// Callers that disagree on the limit are refused while a quorum records
// one; here the records are wiped between the calls (as a majority's data
// loss would), so a waiter for 1 permit parks while a permit of 2 is held.
// That permit's release is announced, not handed on; the waiter's own
// slot's release is handed on.
func TestAPermitIsNotHandedToAWaiterOfAnotherLimit(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	wipe := func() {
		t.Helper()
		for _, n := range cluster.Nodes {
			if err := n.Client.Del(ctx, "redlease:{mixed-limits}:permits:limit").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	one, err := c.AcquirePermit(ctx, "mixed-limits", 1) // slot 0
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the permit on every node", func() bool {
		return settled(t, cluster, "redlease:{mixed-limits}:permit:0", 3)
	})
	wipe()
	two, err := c.AcquirePermit(ctx, "mixed-limits", 2) // slot 1: slot 0 is held
	if err != nil {
		t.Fatal(err)
	}
	if two.Slot() != 1 {
		t.Fatalf("the permit of 2 took slot %d", two.Slot())
	}
	waitUntil(t, 2*time.Second, "the permit of 2 on every node", func() bool {
		return settled(t, cluster, "redlease:{mixed-limits}:permit:1", 3)
	})
	wipe()
	got := make(chan *lease.Permit, 1)
	go func() {
		p, err := c.AcquirePermit(ctx, "mixed-limits", 1, lease.WithWait(10*time.Second))
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	waitUntil(t, 5*time.Second, "the waiter parked", func() bool { return c.ParkedPermits("mixed-limits") == 1 })
	if err := two.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		t.Fatalf("the waiter for 1 permit got %v after a permit of 2 was released", p)
	case <-time.After(500 * time.Millisecond):
	}
	if c.Handoffs() != 0 {
		t.Fatalf("%d hand-offs to a waiter of another limit", c.Handoffs())
	}
	if err := one.Release(ctx); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p == nil {
		t.FailNow()
	}
	defer p.Release(ctx)
	if c.Handoffs() != 1 || p.Slot() != 0 || p.Limit() != 1 {
		t.Fatalf("hand-offs %d, the waiter got slot %d of %d; want one hand-off of slot 0", c.Handoffs(), p.Slot(), p.Limit())
	}
}

// settled reports whether key exists on n nodes.
func settled(t *testing.T, cluster *leasetest.Cluster, key string, n int) bool {
	t.Helper()
	found := 0
	for _, node := range cluster.Nodes {
		if node.Client.Exists(context.Background(), key).Val() == 1 {
			found++
		}
	}
	return found >= n
}

// pauseAWhile pauses node 100 ms from now, for 300 ms.
func pauseAWhile(t *testing.T, node *leasetest.Node) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if err := node.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := node.Resume(); err != nil {
		t.Fatal(err)
	}
}

// checkSlots checks each slot's fenced register, and that between 2 and
// limit holders were inside at once (most).
func checkSlots(t *testing.T, regs []leasetest.FencedRegister, most int32, limit int) {
	t.Helper()
	for i := range regs {
		if err := regs[i].Check(); err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
	}
	if most > int32(limit) || most < 2 {
		t.Fatalf("at most %d holders inside at once, want 2 to %d", most, limit)
	}
}
