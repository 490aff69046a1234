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

// Claim (permit.go, permit_scope.go): "a call whose limit differs from what
// a quorum of nodes records returns an *InvalidInputError matching
// ErrPermitLimit, having written nothing".
//
// The read round and the acquisition round are not atomic, and the
// acquisition always sends override "1". A misconfigured start (K = 3)
// whose read found no record, delayed on the network, lands after correct
// callers (K = 2) recorded 2 on every node: it is not refused, it
// overwrites the record on every node (even where its slot is refused),
// may hold a third permit next to the two of a K = 2 resource, and from
// then on the correctly configured callers are the ones refused.
func TestReviewLateMisconfiguredStartOverwritesAQuorumsLimit(t *testing.T) {
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
		t.Logf("round %d: every node recorded 2; the late K=3 start → slot %d, err %v; records now %v", round, r.g.Slot, r.err, after)
		if errors.Is(r.err, lease.ErrPermitLimit) && after[0] == "2" && after[1] == "2" && after[2] == "2" {
			continue // what the claim says
		}
		if r.err == nil {
			thirdPermitSeen = true
			t.Errorf("a K=3 start whose limit differs from every node's record got slot %d: 3 valid permits of a resource whose nodes all record 2", r.g.Slot)
		}
		if after[0] != "2" || after[1] != "2" || after[2] != "2" {
			t.Errorf("a refused-or-not K=3 start rewrote the limit record a quorum held (2) to %v", after)
		}
		_, err := good.AcquirePermit(ctx, resource, 2)
		if errors.Is(err, lease.ErrPermitLimit) {
			t.Errorf("afterwards the correctly configured K=2 caller is refused: %v", err)
		}
		for _, p := range held {
			_ = p.Release(ctx)
		}
	}
}

// Claims: ScopeAttempt — "once an attempt took a token on a node, an
// earlier one (delivered late) is refused there with ErrSuperseded";
// AcquirePermitScope — "a retried start continues what an earlier one
// took", "a permit scope ... holds [one slot] for its whole life".
//
// The attempt order is recorded per slot. Attempt 1 of a start reads
// (every slot free) and its start round is delayed; attempt 2 (the retry)
// reads, finds nothing of its holder and takes another slot. Attempt 1's
// round then lands on its own slot, where no record of the scope exists:
// it is granted. One scope now holds two of the K permits; the keeper,
// sections and release (which follow the slot the workflow saw) never
// touch the other one, which stays held for the TTL — and nothing
// refused the stale attempt.
func TestReviewStaleStartAttemptTakesASecondSlot(t *testing.T) {
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
