package lease_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// I2: successive holders get strictly increasing tokens even when the
// nodes' counters diverged because different nodes were unavailable during
// earlier acquisitions. A node is made unavailable to a holder by a
// blocker's lock on it (it answers "held by another" and its counter does
// not move), which diverges the counters without losing data. (A paused
// node would not do: the kernel buffers the requests and the node runs
// them when it resumes.)
//
// The counters start far above this process's clock (as if an earlier
// holder's clock ran ahead), so the clock floor does not realign them and
// the raise round must.
func TestFencingTokensIncreaseAcrossDivergedCounters(t *testing.T) {
	c, cluster := newClient(t, 5)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	setFences(t, cluster, "fenced", 1<<52)
	var last int64
	diverged, raised := 0, 0
	for round := range 40 {
		before := fences(t, cluster, "fenced")
		down := rng.Perm(5)[:rng.IntN(3)]
		for _, i := range down {
			if err := cluster.Nodes[i].Client.Set(ctx, lockKey("fenced"), "blocker", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
		l, err := c.Acquire(ctx, "fenced")
		if err != nil {
			t.Fatalf("round %d (down %v): %v", round, down, err)
		}
		if l.Token() <= last {
			t.Fatalf("round %d (down %v): token %d not above previous %d", round, down, l.Token(), last)
		}
		last = l.Token()
		// Every holder leaves a quorum of nodes whose counter is at least
		// its token, so that the next holder's quorum intersects it.
		after := fences(t, cluster, "fenced")
		atLeast := 0
		for _, f := range after {
			if f >= l.Token() {
				atLeast++
			}
		}
		if atLeast < c.Quorum() {
			t.Fatalf("round %d: counters %v: only %d at or above token %d", round, after, atLeast, l.Token())
		}
		if spread(before) > 0 {
			diverged++
		}
		if raisedAny(before, after, l.Token()) {
			raised++
		}
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
		for _, i := range down {
			if err := cluster.Nodes[i].Client.Del(ctx, lockKey("fenced")).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diverged == 0 || raised == 0 {
		t.Fatalf("the scenario never exercised diverged counters (%d) or the raise round (%d)", diverged, raised)
	}
	t.Logf("40 holders: counters diverged before %d acquisitions, raise round used in %d", diverged, raised)
}

// setFences sets the fence counter of resource on every node.
func setFences(t *testing.T, cluster *leasetest.Cluster, resource string, v int64) {
	t.Helper()
	for i, n := range cluster.Nodes {
		if err := n.Client.Set(context.Background(), fenceKey(resource), v, 0).Err(); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

// spread is max−min over the counters.
func spread(fs []int64) int64 {
	lo, hi := fs[0], fs[0]
	for _, f := range fs {
		lo, hi = min(lo, f), max(hi, f)
	}
	return hi - lo
}

// raisedAny reports whether some counter jumped by more than one to the
// token: the raise round's doing, not an INCR.
func raisedAny(before, after []int64, token int64) bool {
	for i := range before {
		if after[i] == token && token-before[i] > 1 {
			return true
		}
	}
	return false
}

// Takeover: a retried attempt of the same holder replaces the previous
// attempt's owner value with a fresh, higher token; the previous attempt is
// then fenced out (cannot extend or release). Another holder never takes over.
func TestTakeoverBySameHolderFencesOutPreviousAttempt(t *testing.T) {
	c, cluster := newClient(t, 5)
	ctx := context.Background()
	const holder = "default/job-42/run-1/printer"
	first := mustAcquire(t, c, "printer", lease.WithHolder(holder))
	before := settledValues(t, cluster, "printer", first.Owner())

	if _, err := c.Acquire(ctx, "printer", lease.WithHolder(holder)); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("same holder without WithTakeover: %v, want ErrNotAcquired", err)
	}
	if _, err := c.Acquire(ctx, "printer", lease.WithHolder("default/other/run-9/printer"), lease.WithTakeover()); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("other holder with WithTakeover: %v, want ErrNotAcquired", err)
	}
	assertUnchanged(t, cluster, "printer", before, "refused takeovers")

	second := mustAcquire(t, c, "printer", lease.WithHolder(holder), lease.WithTakeover())
	if second.Token() <= first.Token() || second.Owner() == first.Owner() {
		t.Fatalf("takeover token %d (first %d), owners equal: %v", second.Token(), first.Token(), second.Owner() == first.Owner())
	}
	taken := settledValues(t, cluster, "printer", second.Owner())
	if err := first.Extend(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("zombie extend: %v, want ErrLost", err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("zombie release: %v", err)
	}
	assertUnchanged(t, cluster, "printer", taken, "the zombie's extend and release")
	if err := c.ReleaseHolder(ctx, "printer", holder, "", 0); err != nil {
		t.Fatal(err)
	}
	waitReleased(t, cluster, "printer")
}

// I3: no foreign release or extend. Wrong owner values, other holders, and
// a lease whose lock expired and went to someone else change nothing.
func TestForeignReleaseAndExtendAreRefused(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	held := mustAcquire(t, c, "doc", lease.WithHolder("alice"))
	before := settledValues(t, cluster, "doc", held.Owner())
	ttlBefore := make([]int64, 3)
	for i, n := range cluster.Nodes {
		ttlBefore[i] = n.Client.PTTL(ctx, lockKey("doc")).Val().Milliseconds()
	}

	for _, owner := range []string{"bob#00", held.Owner() + "x", held.Owner()[:len(held.Owner())-1], "alice"} {
		if err := c.ReleaseOwner(ctx, "doc", owner); err != nil {
			t.Fatalf("foreign ReleaseOwner(%q): %v", owner, err)
		}
	}
	for _, holder := range []string{"bob", "alic", "alice2"} {
		if err := c.ReleaseHolder(ctx, "doc", holder, "", 0); err != nil {
			t.Fatalf("foreign ReleaseHolder(%q): %v", holder, err)
		}
	}
	assertUnchanged(t, cluster, "doc", before, "foreign releases")
	for i, n := range cluster.Nodes {
		if ttl := n.Client.PTTL(ctx, lockKey("doc")).Val().Milliseconds(); ttl > ttlBefore[i] {
			t.Fatalf("node %d: PTTL grew from %d to %d: someone else extended it", i, ttlBefore[i], ttl)
		}
	}

	// An expired lease whose lock now belongs to another must not extend or
	// release the new owner's lock.
	short := mustAcquire(t, c, "expiring", lease.WithLeaseTTL(700*time.Millisecond))
	waitUntil(t, 3*time.Second, "short lease keys expire", func() bool {
		return countOwner(lockValues(t, cluster, "expiring"), "") == 3
	})
	next := mustAcquire(t, c, "expiring")
	nextValues := settledValues(t, cluster, "expiring", next.Owner())
	if err := short.Extend(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("extend of expired lease: %v, want ErrLost", err)
	}
	if err := short.Release(ctx); err != nil {
		t.Fatal(err)
	}
	assertUnchanged(t, cluster, "expiring", nextValues, "the expired lease's extend and release")
}

// Extend heals a node that lost the key (restart without persistence), but
// only if nobody acquired that node since; the token never changes.
func TestExtendHealsRestartedNodeOnlyWhenSafe(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	l := mustAcquire(t, c, "heal")
	token := l.Token()
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// The first request on a connection to the old process may fail; the
	// node is healed by the first extension that reaches it.
	for range 5 {
		if err := l.Extend(ctx); err != nil {
			t.Fatal(err)
		}
		if lockValues(t, cluster, "heal")[0] == l.Owner() {
			break
		}
	}
	if v := lockValues(t, cluster, "heal")[0]; v != l.Owner() {
		t.Fatalf("restarted node holds %q after extensions, want the owner value", v)
	}
	if f := fences(t, cluster, "heal")[0]; f != l.Token() {
		t.Fatalf("restarted node's counter %d, want it raised to the token %d", f, l.Token())
	}

	// Node 1 lost the key and its counter moved past the token: someone
	// acquired there since. Extend must leave it alone.
	n1 := cluster.Nodes[1].Client
	if err := n1.Del(ctx, lockKey("heal")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := n1.Set(ctx, fenceKey("heal"), l.Token()+5, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := l.Extend(ctx); err != nil {
		t.Fatalf("extend with 2 of 3 nodes: %v", err)
	}
	if v := lockValues(t, cluster, "heal")[1]; v != "" {
		t.Fatalf("extend re-set the lock on a node acquired since: %q", v)
	}
	if f := fences(t, cluster, "heal")[1]; f != token+5 {
		t.Fatalf("node 1 counter %d, want %d untouched", f, token+5)
	}
	if l.Token() != token {
		t.Fatalf("token changed from %d to %d on extend", token, l.Token())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func ExampleNotAcquiredError() {
	err := error(&lease.NotAcquiredError{Resource: "printer", Quorum: 3, Acquired: 1})
	fmt.Println(errors.Is(err, lease.ErrNotAcquired))
	// Output: true
}

// Epochs order one holder's attempts: a late attempt never takes the lock
// from a newer one, and a release tombstone refuses the holder's earlier
// epochs while other holders see the resource as free.
func TestEpochsAndTombstonesRefuseLateAttempts(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	const h = "ns/wf/run/default"
	e := func(n uint64) lease.AcquireOption { return lease.WithEpoch(lease.NewEpoch(100, n)) }

	second := mustAcquire(t, c, "job", lease.WithHolder(h), e(2))
	before := settledValues(t, cluster, "job", second.Owner())
	if _, err := c.Acquire(ctx, "job", lease.WithHolder(h), e(1), lease.WithTakeover()); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("late attempt (epoch 1) over epoch 2: %v, want ErrNotAcquired", err)
	}
	assertUnchanged(t, cluster, "job", before, "a late attempt")
	third := mustAcquire(t, c, "job", lease.WithHolder(h), e(3), lease.WithTakeover())
	if third.Token() <= second.Token() {
		t.Fatalf("epoch 3 token %d not above %d", third.Token(), second.Token())
	}

	// Release by holder at epoch 4 leaves a tombstone.
	if err := c.ReleaseHolder(ctx, "job", h, lease.NewEpoch(100, 4), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "tombstone on every node", func() bool {
		return countOwner(lockValues(t, cluster, "job"), h+"#"+string(lease.NewEpoch(100, 4))+"#") == 3
	})
	if _, err := c.Acquire(ctx, "job", lease.WithHolder(h), e(3), lease.WithTakeover()); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("attempt of epoch 3 after the release at epoch 4: %v, want ErrNotAcquired", err)
	}
	other := mustAcquire(t, c, "job", lease.WithHolder("ns/other/run/default"))
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	next := mustAcquire(t, c, "job", lease.WithHolder(h), e(5))
	if next.Token() <= other.Token() {
		t.Fatalf("token %d not above %d", next.Token(), other.Token())
	}
	// A stale release (epoch 4) leaves the newer lease (epoch 5) alone.
	held := settledValues(t, cluster, "job", next.Owner())
	if err := c.ReleaseHolder(ctx, "job", h, lease.NewEpoch(100, 4), time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the stragglers of the stale release land
	assertUnchanged(t, cluster, "job", held, "a stale release")
}

// Tokens stay increasing even when the quorum that grants the next lease
// consists only of nodes that lost their counters (restarted empty): the
// counters never fall below the acquiring process's clock in microseconds.
func TestTokensIncreaseAfterAMajorityLostItsCounters(t *testing.T) {
	// The restarted nodes sit out their restart guard first: a short one.
	c, cluster := newClient(t, 5, lease.WithTTL(800*time.Millisecond), lease.WithRestartGuard(time.Second))
	ctx := context.Background()
	first := mustAcquire(t, c, "ledger")
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 1, 2} {
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{3, 4} { // the nodes that kept their counters are gone
		if err := cluster.Nodes[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	var second *lease.Lease
	waitUntil(t, 5*time.Second, "acquire on the restarted nodes", func() bool {
		l, err := c.Acquire(ctx, "ledger") // the first request on a restarted node may meet a dead connection
		second = l
		return err == nil
	})
	if second.Token() <= first.Token() {
		t.Fatalf("token %d after the restart is not above %d", second.Token(), first.Token())
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// The clock floor realigns counters that diverged while they are below the
// acquiring process's clock: after an acquisition on all nodes, every
// counter equals the token, so the next acquisition needs one round only.
func TestClockFloorRealignsDivergedCounters(t *testing.T) {
	c, cluster := newClient(t, 5)
	ctx := context.Background()
	for i, n := range cluster.Nodes {
		if err := n.Client.Set(ctx, fenceKey("aligned"), i*1000, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	l := mustAcquire(t, c, "aligned")
	settledValues(t, cluster, "aligned", l.Owner())
	for i, f := range fences(t, cluster, "aligned") {
		if f != l.Token() {
			t.Fatalf("node %d: counter %d, token %d: counters were not realigned", i, f, l.Token())
		}
	}
	if now := time.Now().UnixMicro(); l.Token() > now || l.Token() < now-int64(time.Minute/time.Microsecond) {
		t.Fatalf("token %d is not this process's clock in µs (now %d)", l.Token(), now)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Counters stay below 2^53, where Lua's numbers are still exact: a node
// whose counter reached the bound refuses the acquisition with an error and
// changes nothing, instead of handing out a token equal to the last one.
func TestExhaustedFenceCounterRefusesAndChangesNothing(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	setFences(t, cluster, "full", 1<<53-1)
	_, err := c.Acquire(ctx, "full")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("acquire with exhausted counters: %v, want *NotAcquiredError", err)
	}
	if len(na.Nodes) < 2 { // the round ends once a quorum is out of reach
		t.Fatalf("node errors %v: want at least 2", na.Nodes)
	}
	for _, ne := range na.Nodes {
		if !errors.Is(ne, lease.ErrFenceExhausted) {
			t.Fatalf("node error %v: want ErrFenceExhausted", ne)
		}
	}
	for i, v := range lockValues(t, cluster, "full") {
		if v != "" {
			t.Fatalf("node %d: lock %q left behind", i, v)
		}
	}
	for i, f := range fences(t, cluster, "full") {
		if f != 1<<53-1 {
			t.Fatalf("node %d: counter changed to %d", i, f)
		}
	}
}
