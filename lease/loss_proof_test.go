package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// A loss the nodes prove is reported as a loss even when the first nodes
// to fail prove nothing. 5 nodes; a scope and a plain lease are released
// on every node; node 0 restarts empty (in its restart guard: it answers
// at once, proving nothing), and nodes 3 and 4 answer slowly (paused for
// 150 ms, within the node timeout). Nodes 1 and 2 prove the release at
// once: with node 0 that is three failures, the quorum is out of reach —
// and before the fix the round stopped there, so the scope's keep, save
// and acquisition and the lease's extension returned a QuorumError (a
// want of nodes: the fault suite's solo job went on writing four steps
// after a ForceRelease) instead of ErrLost, which nodes 3 and 4 prove.
func TestALossProvenBySlowNodesIsALoss(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 5)
	ttl := 3 * time.Second
	c := clientOn(t, cluster, lease.WithTTL(ttl), lease.WithRestartGuard(5*time.Second), lease.WithNodeTimeout(600*time.Millisecond))
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)
	g, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	plain := mustAcquire(t, c, "plain")
	settledValues(t, cluster, "job", owner)
	if err := c.ReleaseOwner(ctx, "job", owner); err != nil {
		t.Fatal(err)
	}
	st, err := c.Inspect(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.ForceRelease(ctx, "plain", st.OwnerID); err != nil || n != 5 {
		t.Fatalf("ForceRelease: %d nodes, %v", n, err)
	}
	if err := cluster.Nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	other := mustAcquire(t, c, "guard") // reaches node 0: its guard starts
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func() error
	}{
		{"KeepScope", func() error { _, err := c.KeepScope(ctx, "job", owner, ttl, true); return err }},
		{"SaveProgress", func() error { return c.SaveProgress(ctx, "job", owner, g.Token, "s", 1, []byte("after")) }},
		{"AcquireScope", func() error { _, err := c.AcquireScope(ctx, "job", owner); return err }},
		{"Extend", func() error { return plain.Extend(ctx) }},
	}
	for _, call := range calls {
		slow := []*leasetest.Node{cluster.Nodes[3], cluster.Nodes[4]}
		for _, n := range slow {
			if err := n.Pause(); err != nil {
				t.Fatal(err)
			}
		}
		resumed := make(chan error, 1)
		go func() {
			time.Sleep(150 * time.Millisecond)
			resumed <- errors.Join(slow[0].Resume(), slow[1].Resume())
		}()
		err := call.call()
		if rerr := <-resumed; rerr != nil {
			t.Fatal(rerr)
		}
		if !errors.Is(err, lease.ErrLost) {
			t.Errorf("%s after the release, nodes 3 and 4 slow: %v, want ErrLost", call.name, err)
		}
	}
}
