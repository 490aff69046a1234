package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

func scopeOwner(t *testing.T, holder string, epoch uint64) string {
	t.Helper()
	owner, err := lease.NewScopeOwner(holder, lease.NewEpoch(epoch, 0))
	if err != nil {
		t.Fatal(err)
	}
	return owner
}

// A scope continues across an expiry nobody used, and every acquisition
// gets a higher token; once another holder held the resource, even after
// it released and the lock is free again, the scope is lost for good.
func TestScopeContinuesOnlyWhileNobodyElseHeldIt(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 5, lease.WithTTL(300*time.Millisecond), lease.WithNodeTimeout(50*time.Millisecond))
	owner := scopeOwner(t, "ns/wf/run/default", 100)

	first, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the lock expires; nobody takes it
	second, err := c.AcquireScope(ctx, "job", owner)
	if err != nil {
		t.Fatalf("resume after an unused expiry: %v", err)
	}
	if second.Token <= first.Token {
		t.Fatalf("tokens %d then %d: not increasing", first.Token, second.Token)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 300*time.Millisecond, true); err != nil {
		t.Fatalf("keep: %v", err)
	}

	time.Sleep(400 * time.Millisecond)
	other := mustAcquire(t, c, "job")
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.AcquireScope(ctx, "job", owner)
	if !errors.Is(err, lease.ErrLost) {
		t.Fatalf("resume after another holder: %v, want ErrLost", err)
	}
	// ScopeFirst does not help either: the nodes know the scope held them.
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("first-mode resume after another holder: %v, want ErrLost", err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 300*time.Millisecond, false); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("keep after another holder: %v, want ErrLost", err)
	}
}

// While the scope holds the lock, nobody else gets it, and keeping it
// needs no new token: the section's token stays the newest.
func TestScopeKeepExcludesOthersWithoutNewTokens(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(300*time.Millisecond), lease.WithNodeTimeout(50*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	grant, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		kept, err := c.KeepScope(ctx, "job", owner, 300*time.Millisecond, true)
		if err != nil {
			t.Fatal(err)
		}
		if kept.Fence != grant.Token {
			t.Fatalf("keep moved the counter: %d, token %d", kept.Fence, grant.Token)
		}
		if _, err := c.Acquire(ctx, "job"); !errors.Is(err, lease.ErrNotAcquired) {
			t.Fatalf("another holder acquired during the scope: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A newer attempt's token fences out the older attempt's progress, and
// the latest save is what a later attempt loads.
func TestScopeProgressIsFenced(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 5)
	owner := scopeOwner(t, "h", 1)
	a1, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if err := c.SaveProgress(ctx, "job", owner, a1.Token, "step", seq, []byte{byte('0' + seq)}); err != nil {
			t.Fatal(err)
		}
	}
	a2, err := c.AcquireScope(ctx, "job", owner)
	if err != nil {
		t.Fatal(err)
	}
	data, found, err := c.LoadProgress(ctx, "job", owner, "step")
	if err != nil || !found || string(data) != "3" {
		t.Fatalf("load: %q %v %v, want the last save", data, found, err)
	}
	err = c.SaveProgress(ctx, "job", owner, a1.Token, "step", 9, []byte("zombie"))
	if !errors.Is(err, lease.ErrSuperseded) || !errors.Is(err, lease.ErrLost) {
		t.Fatalf("zombie save: %v, want ErrSuperseded", err)
	}
	if err := c.SaveProgress(ctx, "job", owner, a2.Token, "step", 1, []byte("4")); err != nil {
		t.Fatal(err)
	}
	if data, _, _ := c.LoadProgress(ctx, "job", owner, "step"); string(data) != "4" {
		t.Fatalf("load after the newer attempt saved: %q", data)
	}
	if _, found, _ := c.LoadProgress(ctx, "job", owner, "other"); found {
		t.Fatal("progress of a field never saved")
	}
}

// After ReleaseScope, no attempt of the scope takes the lock again — not
// within the tombstone, not after it — while a later scope of the same
// holder starts normally and a late release leaves it alone.
func TestReleasedScopeStaysReleased(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(300*time.Millisecond), lease.WithNodeTimeout(50*time.Millisecond))
	owner := scopeOwner(t, "h", 10)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	if err := c.ReleaseScope(ctx, "job", "h", lease.NewEpoch(20, 1), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // the tombstone expires
	for _, first := range []bool{false, true} {
		var opts []lease.ScopeOption
		if first {
			opts = append(opts, lease.ScopeFirst())
		}
		if _, err := c.AcquireScope(ctx, "job", owner, opts...); !errors.Is(err, lease.ErrLost) || !errors.Is(err, lease.ErrScopeEnded) {
			t.Fatalf("late attempt (first=%v) after the release: %v, want ErrLost and ErrScopeEnded", first, err)
		}
	}
	if _, err := c.KeepScope(ctx, "job", owner, 300*time.Millisecond, true); !errors.Is(err, lease.ErrScopeEnded) || errors.Is(err, lease.ErrLost) {
		t.Fatalf("keep after the release: %v, want ErrScopeEnded (not a loss)", err)
	}
	later := scopeOwner(t, "h", 30)
	if _, err := c.AcquireScope(ctx, "job", later, lease.ScopeFirst()); err != nil {
		t.Fatalf("a later scope of the holder: %v", err)
	}
	if err := c.ReleaseScope(ctx, "job", "h", lease.NewEpoch(20, 2), 0); err != nil { // a release delivered late
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "job", later, 300*time.Millisecond, true); err != nil {
		t.Fatalf("the later scope after a late release of the earlier one: %v", err)
	}
}

// Only proof of loss is final: with two of five nodes down, a scope that
// holds the other three continues, and one that cannot reach a quorum
// gets a retryable error, not ErrLost.
func TestScopeWithNodesDownIsNotLost(t *testing.T) {
	ctx := context.Background()
	c, cluster := newClient(t, 5, lease.WithTTL(time.Second), lease.WithNodeTimeout(100*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{3, 4} {
		if err := cluster.Nodes[i].Pause(); err != nil {
			t.Fatal(err)
		}
		defer cluster.Nodes[i].Resume()
	}
	if _, err := c.AcquireScope(ctx, "job", owner); err != nil {
		t.Fatalf("resume with 2 of 5 down: %v", err)
	}
	if err := cluster.Nodes[2].Pause(); err != nil {
		t.Fatal(err)
	}
	defer cluster.Nodes[2].Resume()
	_, err := c.AcquireScope(ctx, "job", owner)
	if err == nil || errors.Is(err, lease.ErrLost) || !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("resume with 3 of 5 down: %v, want retryable ErrNotAcquired", err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, time.Second, true); err == nil || errors.Is(err, lease.ErrLost) {
		t.Fatalf("keep with 3 of 5 down: %v, want retryable", err)
	}
}

// A keeper that starts before the scope's first acquisition waits for it
// (ErrScopeNotStarted), then keeps it.
func TestKeepScopeBeforeTheFirstAcquisition(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3)
	owner := scopeOwner(t, "h", 1)
	if _, err := c.KeepScope(ctx, "job", owner, time.Second, false); !errors.Is(err, lease.ErrScopeNotStarted) {
		t.Fatalf("keep before acquisition: %v, want ErrScopeNotStarted", err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, time.Second, false); err != nil {
		t.Fatal(err)
	}
}

func TestScopeRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	c, cluster := newClient(t, 3)
	for _, owner := range []string{"", "plain", "h#e", "#e#n", "h#e#"} {
		if _, err := c.AcquireScope(ctx, "job", owner); !errors.Is(err, lease.ErrInvalidInput) {
			t.Errorf("owner %q: %v, want ErrInvalidInput", owner, err)
		}
	}
	if _, err := lease.NewScopeOwner("a#b", ""); !errors.Is(err, lease.ErrInvalidInput) {
		t.Errorf("holder with '#': %v", err)
	}
	if err := c.ReleaseScope(ctx, "job", "h", "", 0); !errors.Is(err, lease.ErrInvalidInput) {
		t.Errorf("release without epoch: %v", err)
	}
	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("bad input wrote %d keys", n)
	}
}

// An attempt delivered late — after a later attempt of the same scope took
// a token — is refused for good (ErrSuperseded), and does not fence out
// the later attempt.
func TestLateAttemptNeverSupersedesALaterOne(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 5)
	owner := scopeOwner(t, "h", 1)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst(), lease.ScopeAttempt(lease.NewEpoch(10, 1))); err != nil {
		t.Fatal(err)
	}
	third, err := c.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(10, 3)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(10, 2)))
	if !errors.Is(err, lease.ErrSuperseded) || !errors.Is(err, lease.ErrLost) {
		t.Fatalf("late attempt 2: %v, want ErrSuperseded", err)
	}
	if err := c.SaveProgress(ctx, "job", owner, third.Token, "s", 1, []byte("1")); err != nil {
		t.Fatalf("attempt 3 was disturbed by the late attempt: %v", err)
	}
	kept, err := c.KeepScope(ctx, "job", owner, time.Second, true)
	if err != nil || kept.Fence != third.Token {
		t.Fatalf("keep: fence %d, %v; want attempt 3's token %d", kept.Fence, err, third.Token)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(11, 1))); err != nil {
		t.Fatalf("a later section: %v", err)
	}
}

// EndScope by a stale attempt (a later attempt took a token) changes
// nothing; by the latest attempt it ends the scope, and the keeper is told
// once enough nodes say so. A section that names its attempt learns at its
// next keep that it was superseded. A save to a node whose lock merely
// expired is not taken for a supersession.
func TestEndScopeAndKeepAreFencedByAttempt(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(600*time.Millisecond), lease.WithNodeTimeout(50*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	a1, a2 := lease.NewEpoch(5, 1), lease.NewEpoch(5, 2)
	g1, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst(), lease.ScopeAttempt(a1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(a2)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 600*time.Millisecond, true, lease.ScopeAttempt(a1)); !errors.Is(err, lease.ErrSuperseded) {
		t.Fatalf("keep by the superseded attempt: %v, want ErrSuperseded", err)
	}
	if err := c.EndScope(ctx, "job", owner, a1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 600*time.Millisecond, true, lease.ScopeAttempt(a2)); err != nil {
		t.Fatalf("the stale attempt's EndScope ended the scope: %v", err)
	}
	if err := c.SaveProgress(ctx, "job", owner, g1.Token, "s", 1, nil); !errors.Is(err, lease.ErrSuperseded) {
		t.Fatalf("save by the superseded attempt: %v", err)
	}
	time.Sleep(700 * time.Millisecond) // the lock expires; nobody takes it
	g3, err := c.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(5, 3)))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := c.SaveProgress(ctx, "job", owner, g3.Token, "s", 1, nil); err == nil || errors.Is(err, lease.ErrLost) {
		t.Fatalf("save after an unused expiry: %v, want a retryable error", err)
	}
	if err := c.EndScope(ctx, "job", owner, lease.NewEpoch(5, 3), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 600*time.Millisecond, true); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("keeper after EndScope: %v, want ErrScopeEnded", err)
	}
}

// ScopeStart (no work of the scope can have run yet) starts the scope
// whatever the nodes remember of it — leftovers of earlier attempts, or a
// holder that came in between — where ScopeFirst reports the loss; after
// the scope's release it refuses too.
func TestScopeStartIgnoresLeftoversButNotARelease(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(300*time.Millisecond), lease.WithNodeTimeout(50*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	other := mustAcquire(t, c, "job")
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("ScopeFirst after another holder: %v, want ErrLost", err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatalf("ScopeStart after another holder: %v", err)
	}
	if err := c.ReleaseScope(ctx, "job", "h", lease.NewEpoch(2, 0), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("ScopeStart after the release: %v, want ErrScopeEnded", err)
	}
}

// A node that missed the scope's acquisition (here: it was down, and came
// back new) gets the lock copied once a quorum holds the scope, so the
// scope survives losing two of the nodes it did reach. (Without the copy,
// a scope on 5 nodes that missed one could not go on after two others
// died: a section retried forever.)
func TestScopeHealsANodeThatMissedTheAcquisition(t *testing.T) {
	ctx := context.Background()
	c, cluster := newClient(t, 5, lease.WithTTL(2*time.Second), lease.WithNodeTimeout(100*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	if err := cluster.Nodes[2].Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[2].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[2].InitNew(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 3*time.Second, "a keep heals node 2", func() bool {
		_, _ = c.KeepScope(ctx, "job", owner, 2*time.Second, true)
		return lockValues(t, cluster, "job")[2] == owner
	})
	for _, i := range []int{3, 4} {
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.KeepScope(ctx, "job", owner, 2*time.Second, true); err != nil {
		t.Fatalf("keep with nodes 3 and 4 dead: %v", err)
	}
	if _, err := c.AcquireScope(ctx, "job", owner); err != nil {
		t.Fatalf("a section with nodes 3 and 4 dead: %v", err)
	}
}
