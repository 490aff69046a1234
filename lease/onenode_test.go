package lease_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// On one node, callers send their own requests when the node is idle and
// queue behind each other otherwise. Both ways mix while goroutines
// contend for one resource and others cycle on their own: no two holders
// overlap, tokens only grow, and every lock is gone at the end.
func TestOneNodeCallersAndTheDispatcherKeepOrder(t *testing.T) {
	c, cluster := newClient(t, 1)
	ctx := context.Background()
	var reg leasetest.FencedRegister
	var wg sync.WaitGroup
	wg.Go(func() { fencedSections(t, c, &reg, "one-node", 6, 50) })
	for w := range 6 {
		wg.Go(func() {
			for i := range 50 {
				l, err := c.Acquire(ctx, fmt.Sprintf("one-node/%d/%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := reg.Check(); err != nil {
		t.Fatal(err)
	}
	if c.DirectSends() == 0 {
		t.Fatal("no caller sent its own requests on a one-node client")
	}
	keys, err := cluster.Nodes[0].Client.Keys(ctx, "redlease:{one-node*}:lock").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Fatalf("locks left behind: %v", keys)
	}
}

// A caller that sends its own request to a paused node still gives up at
// the node timeout, and one whose ctx ends meanwhile reports it.
func TestOneNodeCallerGivesUpAtTheNodeTimeout(t *testing.T) {
	c, cluster := newClient(t, 1, lease.WithNodeTimeout(100*time.Millisecond))
	ctx := context.Background()
	if err := cluster.Nodes[0].Pause(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Acquire(ctx, "paused")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) || len(na.Nodes) != 1 || !errors.Is(na.Nodes[0].Err, lease.ErrNodeTimeout) {
		t.Fatalf("Acquire on a paused node: %v, want a node timeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = c.Acquire(cctx, "paused")
	if !errors.Is(err, lease.ErrNotAcquired) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire cancelled on a paused node: %v", err)
	}
	if err := cluster.Nodes[0].Resume(); err != nil {
		t.Fatal(err)
	}
	if c.DirectSends() == 0 {
		t.Fatal("the caller did not send its own request")
	}
	l, err := c.Acquire(ctx, "paused", lease.WithWait(5*time.Second))
	if err != nil {
		t.Fatalf("after the node resumed: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A node client that does not end requests by their context's deadline
// keeps every request on the dispatcher, whose round gives up at the node
// timeout whatever the client does.
func TestOneNodeWithoutContextTimeoutsUsesTheDispatcher(t *testing.T) {
	cluster := leasetest.Start(t, 1)
	node := redis.NewClient(&redis.Options{Addr: cluster.Nodes[0].Addr})
	t.Cleanup(func() { node.Close() })
	c, err := lease.New([]lease.Node{node})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l, err := c.Acquire(context.Background(), "no-ctx-timeouts")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := c.DirectSends(); n != 0 {
		t.Fatalf("%d direct sends on a client without ContextTimeoutEnabled", n)
	}
}
