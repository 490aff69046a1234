package lease_test

// Adversarial review of permit scopes (lease/permit.go, permit_scope.go,
// place.go). Each test states the guarantee it checks.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// rvHookNode is a node link that calls hook with every script request's
// keys before sending it (a slow network path under test control: the
// hook may block).
type rvHookNode struct {
	*redis.Client
	hook func(keys []string, args []any)
}

func (n *rvHookNode) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	n.hook(keys, args)
	return n.Client.EvalSha(ctx, sha, keys, args...)
}

func (n *rvHookNode) Pipeline() redis.Pipeliner { return rvHookPipe{n.Client.Pipeline(), n} }

type rvHookPipe struct {
	redis.Pipeliner
	n *rvHookNode
}

func (p rvHookPipe) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	p.n.hook(keys, args)
	return p.Pipeliner.EvalSha(ctx, sha, keys, args...)
}

// rvHookedClient is a lease.Client over cluster whose every node link
// calls hook(node, keys, args) before a script request.
func rvHookedClient(t *testing.T, cluster *leasetest.Cluster, hook func(node int, keys []string, args []any), opts ...lease.Option) *lease.Client {
	t.Helper()
	base := cluster.LeaseNodes()
	nodes := make([]lease.Node, len(base))
	for i, n := range base {
		nodes[i] = &rvHookNode{Client: n.(*redis.Client), hook: func(keys []string, args []any) { hook(i, keys, args) }}
	}
	opts = append([]lease.Option{lease.WithNodeTimeout(2 * time.Second)}, opts...)
	c, err := lease.New(nodes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isPermitScopeStart reports whether keys are those of a permit scope's
// start round (scope.lua's five keys plus the limit key).
func isPermitScopeStart(keys []string) bool {
	return len(keys) == 6 && strings.HasSuffix(keys[5], ":permits:limit")
}

// isPermitAcquire reports whether keys are those of AcquirePermit's
// acquisition round (acquire.lua's three keys plus the limit key).
func isPermitAcquire(keys []string) bool {
	return len(keys) == 4 && strings.HasSuffix(keys[3], ":permits:limit")
}

func limitRecords(t *testing.T, cluster *leasetest.Cluster, resource string) []string {
	t.Helper()
	out := make([]string, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		out[i] = n.Client.Get(context.Background(), "redlease:{"+resource+"}:permits:limit").Val()
	}
	return out
}

// A misconfigured start (K = 3) whose read found no record, delayed on the
// network, lands after correct callers (K = 2) recorded 2 on every node: it
// is refused with ErrPermitLimit, changes no record, and the correct
// callers go on. (A review found the first version, whose acquisition
// overwrote records, holding a third permit of a K = 2 resource and
// rewriting every node's record.)
func TestALateMisconfiguredStartChangesNoRecord(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	good := clientOn(t, cluster)
	thirdPermitSeen := false
	for round := 0; round < 12 && !thirdPermitSeen; round++ {
		resource := fmt.Sprintf("api-%d", round)
		gate := make(chan struct{})
		var blocked sync.WaitGroup
		blocked.Add(3)
		bad := rvHookedClient(t, cluster, func(_ int, keys []string, _ []any) {
			if isPermitScopeStart(keys) && strings.Contains(keys[0], "{"+resource+"}") {
				blocked.Done()
				<-gate // the start round, delayed on the network
			}
		})
		type res struct {
			g   lease.PermitGrant
			err error
		}
		out := make(chan res, 1)
		go func() {
			g, err := bad.AcquirePermitScope(ctx, resource, 3, scopeOwner(t, "ns/wf/run/misconfigured", 100))
			out <- res{g, err}
		}()
		blocked.Wait() // its read round found no limit anywhere

		var held []*lease.Permit
		for range 2 {
			p, err := good.AcquirePermit(ctx, resource, 2)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
		}
		waitUntil(t, 2*time.Second, "limit 2 on every node", func() bool {
			r := limitRecords(t, cluster, resource)
			return r[0] == "2" && r[1] == "2" && r[2] == "2"
		})
		close(gate)
		r := <-out

		after := limitRecords(t, cluster, resource)
		slot := "refused"
		if r.err == nil {
			slot = fmt.Sprint("granted slot ", r.g.Slot)
		}
		t.Logf("round %d: every node recorded 2; the late K=3 start: %s (%v); records now %v", round, slot, r.err, after)
		if errors.Is(r.err, lease.ErrPermitLimit) && after[0] == "2" && after[1] == "2" && after[2] == "2" {
			continue // what the claim says
		}
		if round == 0 || r.err == nil {
			if r.err == nil {
				thirdPermitSeen = true
				t.Errorf("a K=3 start whose limit differs from every node's record got slot %d: 3 valid permits of a resource whose nodes all record 2", r.g.Slot)
			} else if !errors.Is(r.err, lease.ErrPermitLimit) {
				t.Errorf("the late K=3 start was not refused with ErrPermitLimit: %v", r.err)
			}
			if after[0] != "2" || after[1] != "2" || after[2] != "2" {
				t.Errorf("the late K=3 start rewrote the limit record every node held (2) to %v", after)
			}
			if _, err := good.AcquirePermit(ctx, resource, 2); errors.Is(err, lease.ErrPermitLimit) {
				t.Errorf("afterwards the correctly configured K=2 caller is refused: %v", err)
			}
		}
		for _, p := range held {
			_ = p.Release(ctx)
		}
	}
}

// An earlier attempt of a permit scope's start, delivered late, is refused
// with ErrSuperseded whichever slot it reaches for: attempt 1 reads (every
// slot free) and its start round is delayed; attempt 2 takes a slot; then
// attempt 1 lands on its own slot. The scope holds one slot, and all K are
// free again after its release. (A review found the first version, which
// kept the attempt order per slot, granting attempt 1 a second slot.)
func TestAStaleStartAttemptIsSupersededOnAnySlot(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	plain := clientOn(t, cluster)
	const limit = 4
	for round := 0; round < 10; round++ {
		resource := fmt.Sprintf("farm-%d", round)
		holder := fmt.Sprintf("ns/wf/run-%d/default", round)
		owner := scopeOwner(t, holder, 100)
		gate := make(chan struct{})
		var blocked sync.WaitGroup
		blocked.Add(3)
		attempt1 := rvHookedClient(t, cluster, func(_ int, keys []string, _ []any) {
			if isPermitScopeStart(keys) {
				blocked.Done()
				<-gate
			}
		})
		type res struct {
			g   lease.PermitGrant
			err error
		}
		out := make(chan res, 1)
		go func() {
			g, err := attempt1.AcquirePermitScope(ctx, resource, limit, owner, lease.ScopeAttempt(lease.NewEpoch(100, 1)))
			out <- res{g, err}
		}()
		blocked.Wait()
		g2, err := plain.AcquirePermitScope(ctx, resource, limit, owner, lease.ScopeAttempt(lease.NewEpoch(100, 2)))
		if err != nil {
			t.Fatal(err)
		}
		close(gate)
		r1 := <-out
		if r1.err == nil && r1.g.Slot == g2.Slot {
			t.Fatalf("attempt 1 got a token on attempt 2's slot")
		}
		if r1.err != nil {
			t.Logf("round %d: both on slot %d; the stale attempt: %v (as claimed)", round, g2.Slot, r1.err)
			continue
		}
		t.Logf("round %d: retry (attempt 2) took slot %d, then the stale attempt 1 was granted slot %d (token %d)", round, g2.Slot, r1.g.Slot, r1.g.Token)
		t.Errorf("an earlier attempt delivered late was granted (slot %d) after a later attempt took a token (slot %d): not ErrSuperseded", r1.g.Slot, g2.Slot)
		// The workflow saw attempt 2 and releases its slot only.
		if err := plain.ReleaseScope(ctx, resource, holder, lease.NewEpoch(200, 0), 0, lease.ScopePermit(g2.Slot)); err != nil {
			t.Fatal(err)
		}
		var held []*lease.Permit
		for range limit {
			p, err := plain.AcquirePermit(ctx, resource, limit)
			if err != nil {
				break
			}
			held = append(held, p)
		}
		if len(held) < limit {
			t.Errorf("after the scope's release only %d of %d permits can be taken: slot %d stays held by the released scope's stale attempt", len(held), limit, r1.g.Slot)
		}
		for _, p := range held {
			_ = p.Release(ctx)
		}
		return
	}
	t.Log("the two attempts always chose the same slot")
}

// A call whose limit differs from what a quorum of nodes records is never
// granted and changes no record, even when its read round saw only a
// minority's: 5 nodes record K = 2, two (a minority) restart empty, and a
// misconfigured K = 3 caller's read stops at the first quorum of answers
// (the two empty nodes and one recording 2) while nodes 1 and 2 are slow.
// (A review found the first version, whose acquisition overwrote the
// records a read round had not refused, rewriting the quorum's 2 to 3 and
// refusing the correct callers from then on.)
func TestAnEarlyStoppedReadOverridesNoQuorum(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 5)
	opts := []lease.Option{lease.WithTTL(time.Second), lease.WithRestartGuard(time.Second), lease.WithNodeTimeout(250 * time.Millisecond)}
	good := clientOn(t, cluster, opts...)
	p, err := good.AcquirePermit(ctx, "quota", 2)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Release(ctx)
	waitUntil(t, 2*time.Second, "limit 2 on every node", func() bool {
		for _, r := range limitRecords(t, cluster, "quota") {
			if r != "2" {
				return false
			}
		}
		return true
	})
	for _, i := range []int{3, 4} { // a minority loses its data
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The first acquisition a restarted node sees starts its guard window:
	// start it, then wait it out.
	_, _ = good.AcquirePermit(ctx, "warmup", 1)
	time.Sleep(1200 * time.Millisecond)

	gate := make(chan struct{})
	bad := rvHookedClient(t, cluster, func(node int, keys []string, _ []any) {
		if (node == 1 || node == 2) && len(keys) == 4 && strings.HasSuffix(keys[0], ":permits:limit") {
			<-gate // nodes 1 and 2 answer the read a little later
		}
	}, opts...)
	_, err = bad.AcquirePermit(ctx, "quota", 3)
	close(gate)
	t.Logf("records before the K=3 call: [2 2 2 - -]; the call: %v", err)
	// Refused: with ErrPermitLimit when a quorum of the nodes answered with
	// their record, else (nodes 1 and 2 are slow here) as not acquired.
	if err == nil || !(errors.Is(err, lease.ErrPermitLimit) || errors.Is(err, lease.ErrNotAcquired)) {
		t.Errorf("a K=3 permit was granted though nodes 0, 1, 2 (a quorum of 5) record 2: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	after := limitRecords(t, cluster, "quota")
	t.Logf("records after: %v", after)
	if after[0] != "2" || after[1] != "2" || after[2] != "2" {
		t.Errorf("the quorum's record 2 was rewritten to %v", after)
	}
	if _, err := good.AcquirePermit(ctx, "quota", 2); err != nil {
		t.Errorf("the correctly configured K=2 caller is now refused: %v", err)
	}
}

// Held (for the record): a slot at or above K takes no lock (a scope
// operation on it only continues a scope, which has no record there), and
// tombstones that a release on every slot plants do not let a late start
// of the released scope in nor stop K other permits.
func TestASlotAboveTheLimitAndReleaseOnEverySlot(t *testing.T) {
	ctx := context.Background()
	c, cluster := newClient(t, 3)
	const limit = 2
	holder := "ns/wf/run/above"
	owner := scopeOwner(t, holder, 100)
	g, err := c.AcquirePermitScope(ctx, "pool", limit, owner)
	if err != nil {
		t.Fatal(err)
	}
	above := lease.ScopePermit(limit + 3)
	if _, err := c.AcquireScope(ctx, "pool", owner, above); err == nil {
		t.Fatal("a section took a slot above the limit")
	}
	if _, err := c.KeepScope(ctx, "pool", owner, 5*time.Second, true, above); err == nil {
		t.Fatal("a keep held a slot above the limit")
	}
	for _, n := range cluster.Nodes {
		if v := n.Client.Get(ctx, fmt.Sprintf("redlease:{pool}:permit:%d", limit+3)).Val(); v != "" {
			t.Fatalf("slot %d has a lock %q", limit+3, v)
		}
	}
	for slot := range limit { // ReleaseLease of an unstarted permit scope
		if err := c.ReleaseScope(ctx, "pool", holder, lease.NewEpoch(200, 1), 0, lease.ScopePermit(slot)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.AcquirePermitScope(ctx, "pool", limit, owner, lease.ScopeAttempt(lease.NewEpoch(300, 2))); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("a late start after the release on every slot: %v", err)
	}
	if _, err := c.AcquireScope(ctx, "pool", owner, lease.ScopePermit(g.Slot)); !errors.Is(err, lease.ErrScopeEnded) {
		t.Fatalf("a section after the release: %v", err)
	}
	var held []*lease.Permit
	for range limit {
		p, err := c.AcquirePermit(ctx, "pool", limit)
		if err != nil {
			t.Fatalf("a slot with only a tombstone is not free: %v", err)
		}
		held = append(held, p)
	}
	if _, err := c.AcquirePermit(ctx, "pool", limit); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("a permit above the limit: %v", err)
	}
	for _, p := range held {
		_ = p.Release(ctx)
	}
}
