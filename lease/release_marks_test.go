package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// releaseKinds are the ways a live scope's lock can be released by
// somebody other than the scope: by its owner value, by its holder (with
// and without a tombstone), forced by an operator, and the holder's
// ReleaseScope. Each returns an error, and ok reports the error a later
// keep of the scope must give.
var releaseKinds = []struct {
	name    string
	release func(ctx context.Context, t *testing.T, c *lease.Client, holder, owner string)
	ended   bool // the scope's keep says ErrScopeEnded (ReleaseScope) rather than ErrLost
}{
	{name: "ReleaseOwner", release: func(ctx context.Context, t *testing.T, c *lease.Client, _, owner string) {
		if err := c.ReleaseOwner(ctx, "job", owner); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "ReleaseHolder", release: func(ctx context.Context, t *testing.T, c *lease.Client, holder, _ string) {
		if err := c.ReleaseHolder(ctx, "job", holder, "", 0); err != nil {
			t.Fatal(err)
		}
	}},
	{name: "ReleaseHolder with a tombstone", release: func(ctx context.Context, t *testing.T, c *lease.Client, holder, _ string) {
		if err := c.ReleaseHolder(ctx, "job", holder, lease.NewEpoch(200, 0), 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond) // the tombstone is gone: the counter alone must say it
	}},
	{name: "ForceRelease", release: func(ctx context.Context, t *testing.T, c *lease.Client, _, _ string) {
		st, err := c.Inspect(ctx, "job")
		if err != nil {
			t.Fatal(err)
		}
		id := ""
		for _, ns := range st.Nodes {
			if ns.Lock == lease.LockHeld {
				id = ns.OwnerID
			}
		}
		if id == "" {
			t.Fatalf("no node holds the lock: %+v", st.Nodes)
		}
		n, err := c.ForceRelease(ctx, "job", id)
		if err != nil || n == 0 {
			t.Fatalf("ForceRelease: %d nodes, %v", n, err)
		}
	}},
	{name: "ReleaseScope", ended: true, release: func(ctx context.Context, t *testing.T, c *lease.Client, holder, _ string) {
		if err := c.ReleaseScope(ctx, "job", holder, lease.NewEpoch(200, 0), 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
	}},
}

// Issue 19, scenarios 2 and 3: a release of any kind made elsewhere ends a
// live scope — its keeper never puts the lock back, its next acquisition
// and its saves fail — whether its lock sat on every node or had already
// expired on a majority after a keep that reached one node only (whose
// copy then outlives the others). Before the fix, ReleaseOwner and
// ReleaseHolder moved no fence counter, so the keeper's "counter unchanged"
// proof passed and it wrote the lock back on every node; ForceRelease moved
// the counter only where it deleted a lock, so the expired nodes were put
// back.
func TestEveryReleaseEndsALiveScope(t *testing.T) {
	for _, kind := range releaseKinds {
		for _, expired := range []bool{false, true} {
			name := kind.name + "/lock on every node"
			if expired {
				name = kind.name + "/lock expired on a majority"
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				cluster := leasetest.Start(t, 3)
				ttl := 800 * time.Millisecond
				c := clientOn(t, cluster, lease.WithTTL(ttl), lease.WithNodeTimeout(150*time.Millisecond))
				const holder = "ns/wf/run/default"
				owner := scopeOwner(t, holder, 100)
				g, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
				if err != nil {
					t.Fatal(err)
				}
				settledValues(t, cluster, "job", owner)
				if expired {
					// A keep that reaches node 0 only: no quorum, but node 0's
					// copy now lives 5 s while the others expire.
					only0 := partitioned(t, cluster, []int{1, 2})
					if _, err := only0.KeepScope(ctx, "job", owner, 5*time.Second, true); err == nil {
						t.Fatal("a keep that reached one node of three succeeded")
					}
					waitUntil(t, 2*time.Second, "the lock expired on nodes 1 and 2", func() bool {
						v := lockValues(t, cluster, "job")
						return v[0] == owner && v[1] == "" && v[2] == ""
					})
				}
				kind.release(ctx, t, c, holder, owner)
				waitUntil(t, time.Second, "the release reached every node", func() bool {
					return countOwner(lockValues(t, cluster, "job"), owner) == 0
				})

				_, err = c.KeepScope(ctx, "job", owner, ttl, true)
				want := lease.ErrLost
				if kind.ended {
					want = lease.ErrScopeEnded
				}
				if !errors.Is(err, want) {
					t.Fatalf("keep after %s: %v, want %v", kind.name, err, want)
				}
				if held := countOwner(lockValues(t, cluster, "job"), owner); held != 0 {
					t.Fatalf("the keep put the released lock back on %d nodes: %q", held, lockValues(t, cluster, "job"))
				}
				if _, err := c.KeepScope(ctx, "job", owner, ttl, false); err == nil {
					t.Fatal("a keeper that does not know the scope started kept it after the release")
				}
				if _, err := c.AcquireScope(ctx, "job", owner); !errors.Is(err, lease.ErrLost) {
					t.Fatalf("acquisition after %s: %v, want ErrLost", kind.name, err)
				}
				if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); !errors.Is(err, lease.ErrLost) {
					t.Fatalf("first acquisition after %s: %v, want ErrLost", kind.name, err)
				}
				if err := c.SaveProgress(ctx, "job", owner, g.Token, "s", 1, []byte("after")); !errors.Is(err, lease.ErrLost) {
					t.Fatalf("save after %s: %v, want ErrLost", kind.name, err)
				}
				if held := countOwner(lockValues(t, cluster, "job"), owner); held != 0 {
					t.Fatalf("the scope's lock is back on %d nodes: %q", held, lockValues(t, cluster, "job"))
				}
				// The resource is free for others, with a higher token.
				other := mustAcquire(t, c, "job")
				if other.Token() <= g.Token {
					t.Fatalf("next holder's token %d, not above the scope's %d", other.Token(), g.Token)
				}
				if err := other.Release(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Issue 19, scenario 1: a refused zombie save is never loaded, even from
// nodes that a newer attempt could not reach and that would have taken
// it (their counters still carry the zombie's token). 5 nodes: attempt 2
// cannot reach nodes 3 and 4, attempt 3 cannot reach node 0. Before the
// fix, nodes 3 and 4 stored the refused save and attempt 3, hearing nodes
// 1–4, loaded it.
func TestRefusedZombieSaveIsNotLoadedFromTheNodesItReached(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 5)
	a1 := clientOn(t, cluster)                 // attempt 1: frozen, wakes up later
	a2 := partitioned(t, cluster, []int{3, 4}) // attempt 2: cannot reach nodes 3 and 4
	a3 := partitioned(t, cluster, []int{0})    // attempt 3: cannot reach node 0
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)
	progressKey := "redlease:{job}:progress:" + holder

	g1, err := a1.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := a1.SaveProgress(ctx, "job", owner, g1.Token, "s", seq, []byte{byte('0' + seq)}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 2*time.Second, "seq 3 on every node", func() bool {
		for _, n := range cluster.Nodes {
			v, _ := n.Client.HGet(ctx, progressKey, "s").Result()
			if len(v) == 0 || v[len(v)-1] != '3' {
				return false
			}
		}
		return true
	})
	g2, err := a2.AcquireScope(ctx, "job", owner) // nodes 0–2: attempt 1 is fenced out there
	if err != nil {
		t.Fatal(err)
	}
	err = a1.SaveProgress(ctx, "job", owner, g1.Token, "s", 4, []byte("zombie"))
	if !errors.Is(err, lease.ErrSuperseded) || !errors.Is(err, lease.ErrLost) {
		t.Fatalf("zombie save: %v, want ErrSuperseded and ErrLost", err)
	}
	time.Sleep(100 * time.Millisecond) // any late request of the zombie's lands
	for i, n := range cluster.Nodes {
		v, _ := n.Client.HGet(ctx, progressKey, "s").Result()
		if len(v) > 0 && v[len(v)-len("zombie"):] == "zombie" {
			t.Fatalf("node %d stored the refused save: %q", i, v)
		}
	}
	g3, err := a3.AcquireScope(ctx, "job", owner) // nodes 1–4
	if err != nil {
		t.Fatal(err)
	}
	data, found, err := a3.LoadProgress(ctx, "job", owner, "s")
	if err != nil || !found {
		t.Fatalf("load: found=%v err=%v", found, err)
	}
	if string(data) != "3" {
		t.Fatalf("attempt 3 (token %d; attempt 2 took %d > %d) loads %q, want %q: a save a quorum refused", g3.Token, g2.Token, g1.Token, data, "3")
	}
	// Attempt 3's own saves win over everything before.
	if err := a3.SaveProgress(ctx, "job", owner, g3.Token, "s", 1, []byte("a3")); err != nil {
		t.Fatal(err)
	}
	if data, _, err := a2.LoadProgress(ctx, "job", owner, "s"); err != nil || string(data) != "a3" {
		t.Fatalf("load after attempt 3 saved: %q %v", data, err)
	}
}

// The last completed save is loaded whichever quorum a load hears, also
// when the save reached only a quorum (its worker could not reach nodes 3
// and 4, which keep the save before) and the load hears one of the three
// nodes that stored it.
func TestTheLastCompletedSaveIsLoadedFromAnyQuorum(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 5)
	c := clientOn(t, cluster, lease.WithNodeTimeout(150*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	g, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	if err := c.SaveProgress(ctx, "job", owner, g.Token, "s", 1, []byte("one")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // "one" is on every node
	if err := partitioned(t, cluster, []int{3, 4}).SaveProgress(ctx, "job", owner, g.Token, "s", 2, []byte("two")); err != nil {
		t.Fatal(err)
	}
	for _, cut := range [][]int{{}, {0}, {0, 1}, {1, 2}, {0, 2}, {3, 4}} {
		data, found, err := partitioned(t, cluster, cut).LoadProgress(ctx, "job", owner, "s")
		if err != nil || !found || string(data) != "two" {
			t.Fatalf("load without nodes %v: %q found=%v err=%v, want the completed save %q", cut, data, found, err, "two")
		}
	}
}

// A released scope's progress is never loaded: not by a load that hears
// only a minority of the nodes the release reached, and not by a later
// scope of the same holder reading the same field (its own progress is
// separate even where the release never arrived).
func TestAReleasedScopesProgressIsNeverLoaded(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 5)
	c := clientOn(t, cluster, lease.WithNodeTimeout(150*time.Millisecond))
	const holder = "ns/wf/run/default"
	old := scopeOwner(t, holder, 100)
	g, err := c.AcquireScope(ctx, "job", old, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", old)
	if err := c.SaveProgress(ctx, "job", old, g.Token, "s", 1, []byte("old")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the save is on every node
	// The release reaches nodes 0–2 only.
	if err := partitioned(t, cluster, []int{3, 4}).ReleaseScope(ctx, "job", holder, lease.NewEpoch(150, 0), 0); err != nil {
		t.Fatal(err)
	}
	for _, cut := range [][]int{{}, {0}, {0, 1}, {1, 2}} {
		data, found, err := partitioned(t, cluster, cut).LoadProgress(ctx, "job", old, "s")
		if found || data != nil {
			t.Fatalf("load of the released scope without nodes %v: %q (err %v)", cut, data, err)
		}
		if len(cut) == 0 && !errors.Is(err, lease.ErrScopeEnded) {
			t.Fatalf("load of the released scope from every node: %v, want ErrScopeEnded", err)
		}
	}
	if _, err := c.AcquireScope(ctx, "job", old); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("acquisition of the released scope: %v, want ErrScopeEnded", err)
	}
	next := scopeOwner(t, holder, 200)
	if _, err := c.AcquireScope(ctx, "job", next, lease.ScopeStart()); err != nil {
		t.Fatal(err)
	}
	for _, cut := range [][]int{{}, {0, 1}, {1, 2}} {
		data, found, err := partitioned(t, cluster, cut).LoadProgress(ctx, "job", next, "s")
		if err != nil || found {
			t.Fatalf("the next scope (without nodes %v) loads %q found=%v err=%v: another scope's progress", cut, data, found, err)
		}
	}
}

// A release racing a keeper stays a release: whatever the interleaving, no
// keep that starts after the release returned succeeds, and once the
// release reached every node no node holds the scope's lock again.
func TestAReleaseRacingAKeeperStaysARelease(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	ttl := 600 * time.Millisecond
	c := clientOn(t, cluster, lease.WithTTL(ttl))
	keeper := clientOn(t, cluster, lease.WithTTL(ttl)) // another process
	const holder = "ns/wf/run/default"
	for i := range 20 {
		owner := scopeOwner(t, holder, uint64(100+i))
		resource := fmt.Sprintf("job-%d", i)
		if _, err := c.AcquireScope(ctx, resource, owner, lease.ScopeFirst()); err != nil {
			t.Fatal(err)
		}
		keeps := startKeepLoop(ctx, keeper, resource, owner, ttl)
		defer keeps.stop()
		time.Sleep(time.Duration(i%7) * 3 * time.Millisecond)
		var err error
		if i%2 == 0 {
			err = c.ReleaseOwner(ctx, resource, owner)
		} else {
			err = c.ReleaseHolder(ctx, resource, holder, "", 0)
		}
		released := time.Now()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		keeps.check(t, released, fmt.Sprintf("round %d: ", i))
		for _, v := range lockValues(t, cluster, resource) {
			if v == owner {
				t.Fatalf("round %d: the released lock is back: %q", i, lockValues(t, cluster, resource))
			}
		}
	}
}

// A release on a bare quorum holds through a restart: the release reaches
// nodes 0 and 1 (node 2 is down and comes back with its data, the scope's
// record intact), then node 1 restarts empty. The scope never holds a
// quorum again: node 0 proves the release, node 1 knows nothing of it, and
// the scope counts a node without its record as lost.
func TestAReleaseOnABareQuorumHoldsThroughARestart(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	ttl := 500 * time.Millisecond
	opts := []lease.Option{lease.WithTTL(ttl), lease.WithRestartGuard(time.Second), lease.WithNodeTimeout(150 * time.Millisecond)}
	c := clientOn(t, cluster, opts...)
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	if err := cluster.Nodes[2].Client.Save(ctx).Err(); err != nil { // node 2's data: the scope's record
		t.Fatal(err)
	}
	if err := cluster.Nodes[2].Pause(); err != nil { // the release times out there
		t.Fatal(err)
	}
	if err := c.ReleaseOwner(ctx, "job", owner); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Nodes[1].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Node 2 crashes with the release unread and comes back from its
	// snapshot: the scope's record, its counter unmoved, its lock expired.
	if err := cluster.Nodes[2].RestartFromSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2500 * time.Millisecond) // past node 1's guard
	lost := false
	for time.Now().Before(deadline) {
		_, err := c.KeepScope(ctx, "job", owner, ttl, true)
		if err == nil {
			t.Fatalf("the released scope kept a quorum: %q", lockValues(t, cluster, "job"))
		}
		if _, err := c.AcquireScope(ctx, "job", owner); err == nil {
			t.Fatalf("the released scope was acquired again: %q", lockValues(t, cluster, "job"))
		}
		if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err == nil {
			t.Fatalf("the released scope was acquired again as a first acquisition: %q", lockValues(t, cluster, "job"))
		}
		lost = lost || errors.Is(err, lease.ErrLost)
		time.Sleep(100 * time.Millisecond)
	}
	if !lost {
		t.Fatal("the keep never reported the loss once node 1's guard ended")
	}
}

// A slow node that answers after the round: node 2 is paused while the
// release is made (it reaches nodes 0 and 1) and while the scope's keeper
// goes on keeping; both the release and the keeps queue on node 2 and run
// there, in whatever order, when it resumes. No keep started after the
// release succeeds, before or after node 2 answers, and the released lock
// is never back on a quorum.
func TestASlowNodeAnsweringAfterTheRoundKeepsNoReleasedScope(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	ttl := 600 * time.Millisecond
	opts := []lease.Option{lease.WithTTL(ttl), lease.WithNodeTimeout(100 * time.Millisecond)}
	c := clientOn(t, cluster, opts...)
	keeper := clientOn(t, cluster, opts...) // the scope's worker: its own connections
	for i, kind := range releaseKinds {
		t.Run(kind.name, func(t *testing.T) {
			holder := fmt.Sprintf("ns/wf-%d/run/default", i)
			owner := scopeOwner(t, holder, uint64(100+i))
			if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
				t.Fatal(err)
			}
			settledValues(t, cluster, "job", owner)
			if err := cluster.Nodes[2].Pause(); err != nil {
				t.Fatal(err)
			}
			paused := true
			defer func() {
				if paused {
					_ = cluster.Nodes[2].Resume()
				}
			}()
			keeps := startKeepLoop(ctx, keeper, "job", owner, ttl)
			defer keeps.stop()
			time.Sleep(150 * time.Millisecond) // keeps queue on node 2
			kind.release(ctx, t, c, holder, owner)
			released := time.Now()
			time.Sleep(150 * time.Millisecond) // keeps after the release queue there too
			if err := cluster.Nodes[2].Resume(); err != nil {
				t.Fatal(err)
			}
			paused = false
			deadline := time.Now().Add(2 * ttl)
			for time.Now().Before(deadline) {
				if held := countOwner(lockValues(t, cluster, "job"), owner); held >= 2 {
					t.Fatalf("the released lock is back on %d nodes: %q", held, lockValues(t, cluster, "job"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			keeps.check(t, released, "")
			if _, err := c.AcquireScope(ctx, "job", owner); err == nil {
				t.Fatal("the released scope was acquired again")
			}
			waitUntil(t, 2*ttl, "the lock is free everywhere", func() bool { return countOwner(lockValues(t, cluster, "job"), owner) == 0 })
		})
	}
}

// keepLoop is a scope's keeper keeping back to back, as a worker's does,
// on its own client, until stopped.
type keepLoop struct {
	done  chan struct{}
	once  sync.Once
	keeps chan keepAttempt
}

type keepAttempt struct {
	start time.Time
	err   error
}

func startKeepLoop(ctx context.Context, keeper *lease.Client, resource, owner string, ttl time.Duration) *keepLoop {
	l := &keepLoop{done: make(chan struct{}), keeps: make(chan keepAttempt, 10000)}
	go func() {
		defer close(l.keeps)
		for {
			select {
			case <-l.done:
				return
			default:
			}
			start := time.Now()
			_, err := keeper.KeepScope(ctx, resource, owner, ttl, true)
			l.keeps <- keepAttempt{start, err}
		}
	}()
	return l
}

func (l *keepLoop) stop() { l.once.Do(func() { close(l.done) }) }

// check stops the loop and fails t if a keep that started after released
// succeeded, or if none started after it.
func (l *keepLoop) check(t *testing.T, released time.Time, round string) {
	t.Helper()
	l.stop()
	after := 0
	for k := range l.keeps {
		if k.start.After(released) {
			after++
			if k.err == nil {
				t.Fatalf("%sa keep started %v after the release succeeded", round, k.start.Sub(released))
			}
		}
	}
	if after == 0 {
		t.Fatalf("%sno keep ran after the release", round)
	}
}
