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

// A permit scope lives on its slot: sections resume it there with fresh
// tokens, it is kept and its progress saved there, and while it holds, its
// slot counts against the limit that AcquirePermit callers share; released,
// the slot is free at once.
func TestPermitScopeHoldsASlotAgainstPlainPermits(t *testing.T) {
	c, _ := newClient(t, 3)
	ctx := context.Background()
	const limit = 2
	owner := scopeOwner(t, "ns/wf/run/permit", 100)
	g, err := c.AcquirePermitScope(ctx, "api", limit, owner)
	if err != nil {
		t.Fatal(err)
	}
	if g.Slot < 0 || g.Slot >= limit || g.Limit != limit || g.Token <= 0 {
		t.Fatalf("grant %+v", g)
	}
	at := lease.ScopePermit(g.Slot)
	other, err := c.AcquirePermit(ctx, "api", limit)
	if err != nil {
		t.Fatal(err)
	}
	if other.Slot() == g.Slot {
		t.Fatalf("a plain permit took the scope's slot %d", g.Slot)
	}
	_, err = c.AcquirePermit(ctx, "api", limit)
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) || na.Held != limit || na.Limit != limit {
		t.Fatalf("a third permit of two: %v, want not acquired with %d of %d held", err, limit, limit)
	}

	section, err := c.AcquireScope(ctx, "api", owner, at)
	if err != nil {
		t.Fatalf("a section resumes the permit scope on its slot: %v", err)
	}
	if section.Token <= g.Token {
		t.Fatalf("section token %d not above the start's %d", section.Token, g.Token)
	}
	if err := c.SaveProgress(ctx, "api", owner, section.Token, "step", 1, []byte(`"half"`), at); err != nil {
		t.Fatal(err)
	}
	data, found, err := c.LoadProgress(ctx, "api", owner, "step", at)
	if err != nil || !found || string(data) != `"half"` {
		t.Fatalf("progress on the slot: %q %v %v", data, found, err)
	}
	if _, found, _ := c.LoadProgress(ctx, "api", owner, "step"); found {
		t.Fatal("the slot's progress shows under the resource's lease")
	}
	if _, err := c.KeepScope(ctx, "api", owner, 5*time.Second, true, at); err != nil {
		t.Fatalf("keep on the slot: %v", err)
	}
	// Acting on the resource's lease instead finds no scope there.
	if _, err := c.AcquireScope(ctx, "api", owner); err == nil {
		t.Fatal("the permit scope resumed on the resource's lease")
	}

	if err := c.ReleaseScope(ctx, "api", "ns/wf/run/permit", lease.NewEpoch(100, 0), 0, at); err != nil {
		t.Fatal(err)
	}
	third, err := c.AcquirePermit(ctx, "api", limit)
	if err != nil {
		t.Fatalf("the released slot is not free at once: %v", err)
	}
	if third.Slot() != g.Slot {
		t.Fatalf("third permit on slot %d, want the released %d", third.Slot(), g.Slot)
	}
	if _, err := c.AcquireScope(ctx, "api", owner, at); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("a section after the release: %v, want ErrScopeEnded", err)
	}
	_ = third.Release(ctx)
	_ = other.Release(ctx)
}

// A retried start of a permit scope (the same holder, a later attempt,
// after the earlier one's result was lost) continues the slot the earlier
// attempt took instead of taking a second one.
func TestARetriedPermitStartContinuesItsSlot(t *testing.T) {
	c, _ := newClient(t, 3)
	ctx := context.Background()
	owner := scopeOwner(t, "ns/wf/run/retry", 100)
	first, err := c.AcquirePermitScope(ctx, "farm", 4, owner, lease.ScopeAttempt(lease.NewEpoch(100, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for attempt := uint64(2); attempt <= 4; attempt++ {
		again, err := c.AcquirePermitScope(ctx, "farm", 4, owner, lease.ScopeAttempt(lease.NewEpoch(100, attempt)))
		if err != nil {
			t.Fatal(err)
		}
		if again.Slot != first.Slot {
			t.Fatalf("attempt %d took slot %d, the first took %d", attempt, again.Slot, first.Slot)
		}
		if again.Token <= first.Token {
			t.Fatalf("attempt %d token %d not above %d", attempt, again.Token, first.Token)
		}
	}
	// The earliest attempt, delivered late, is fenced out of the slot.
	_, err = c.AcquireScope(ctx, "farm", owner, lease.ScopePermit(first.Slot), lease.ScopeAttempt(lease.NewEpoch(100, 1)))
	if !errors.Is(err, lease.ErrSuperseded) {
		t.Fatalf("a late first attempt: %v, want ErrSuperseded", err)
	}
	// Three more permits fit, not four: the scope holds one slot.
	var held []*lease.Permit
	for range 3 {
		p, err := c.AcquirePermit(ctx, "farm", 4)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, p)
	}
	if _, err := c.AcquirePermit(ctx, "farm", 4); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("a fifth holder of four permits: %v", err)
	}
	for _, p := range held {
		_ = p.Release(ctx)
	}
}

// Permit scopes and plain permits of one resource, mixed, through a node
// pause: never more than the limit at once, and a fenced register per slot
// sees no overlap; waiting starts are woken by releases of either kind.
func TestPermitScopesAndPermitsShareTheLimit(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	const limit = 2
	regs := make([]leasetest.FencedRegister, limit)
	var inside, most atomic.Int32
	enter := func(slot int, token int64, who string) {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if err := regs[slot].Enter(token, who); err != nil {
			t.Error(err)
		}
		time.Sleep(3 * time.Millisecond)
		regs[slot].Exit(token)
		inside.Add(-1)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for w := range 3 {
			wg.Go(func() { // plain permits
				for range 15 {
					p, err := c.AcquirePermit(ctx, "mixed", limit, lease.WithWait(20*time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					enter(p.Slot(), p.Token(), fmt.Sprint("permit ", w))
					if err := p.Release(ctx); err != nil {
						t.Error(err)
					}
				}
			})
			wg.Go(func() { // permit scopes, each with two sections
				for i := range 15 {
					holder := fmt.Sprintf("ns/wf-%d-%d/run/p", w, i)
					owner := scopeOwner(t, holder, 100)
					g, err := c.AcquirePermitScope(ctx, "mixed", limit, owner, lease.ScopeWait(20*time.Second))
					if err != nil {
						t.Error(err)
						return
					}
					for range 2 {
						s, err := c.AcquireScope(ctx, "mixed", owner, lease.ScopePermit(g.Slot))
						if err != nil {
							t.Error(err)
							return
						}
						enter(g.Slot, s.Token, holder)
					}
					if err := c.ReleaseScope(ctx, "mixed", holder, lease.NewEpoch(100, 0), 0, lease.ScopePermit(g.Slot)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}()
	pauseAWhile(t, cluster.Nodes[1])
	<-done
	checkSlots(t, regs, most.Load(), limit)
}

// A permit scope's start checks the limit as AcquirePermit does, and bad
// input is refused before any node is touched.
func TestPermitScopeLimitAndBadInput(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	owner := scopeOwner(t, "ns/wf/run/bad", 100)
	before := keyCount(t, cluster)
	for name, call := range map[string]func() error{
		"zero limit": func() error { _, err := c.AcquirePermitScope(ctx, "gpu", 0, owner); return err },
		"huge limit": func() error { _, err := c.AcquirePermitScope(ctx, "gpu", lease.MaxPermits+1, owner); return err },
		"bad owner":  func() error { _, err := c.AcquirePermitScope(ctx, "gpu", 2, "no-hashes"); return err },
		"slot given": func() error {
			_, err := c.AcquirePermitScope(ctx, "gpu", 2, owner, lease.ScopePermit(0))
			return err
		},
		"negative slot": func() error { _, err := c.AcquireScope(ctx, "gpu", owner, lease.ScopePermit(-1)); return err },
		"slot too big": func() error {
			_, err := c.AcquireScope(ctx, "gpu", owner, lease.ScopePermit(lease.MaxPermits))
			return err
		},
		"start on a slot": func() error {
			_, err := c.AcquireScope(ctx, "gpu", owner, lease.ScopePermit(0), lease.ScopeStart())
			return err
		},
		"release on a bad slot": func() error {
			return c.ReleaseScope(ctx, "gpu", "ns/wf/run/bad", lease.NewEpoch(100, 0), 0, lease.ScopePermit(-2))
		},
	} {
		if err := call(); !errors.Is(err, lease.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if after := keyCount(t, cluster); after != before {
		t.Fatalf("bad input wrote keys: %d before, %d after", before, after)
	}

	p, err := c.AcquirePermit(ctx, "gpu", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(ctx)
	// AcquirePermit returns at a quorum: wait for its lock, fence and limit
	// record on every node.
	waitUntil(t, 2*time.Second, "the permit on every node", func() bool { return keyCount(t, cluster) == before+9 })
	before = keyCount(t, cluster)
	_, err = c.AcquirePermitScope(ctx, "gpu", 2, owner)
	var ie *lease.InvalidInputError
	if !errors.As(err, &ie) || !errors.Is(err, lease.ErrPermitLimit) {
		t.Fatalf("a permit scope with another limit: %v, want ErrPermitLimit", err)
	}
	if after := keyCount(t, cluster); after != before {
		t.Fatalf("a refused limit wrote keys: %d before, %d after", before, after)
	}
}
