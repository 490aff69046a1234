package lease_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// What Close promises for requests still queued for a slow node: releases
// go out (bounded by the node timeout), acquisitions do not.
func TestCloseSendsQueuedReleasesAndNothingElse(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	c, err := lease.New(cluster.LeaseNodes(), lease.WithNodeTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	held := mustAcquire(t, c, "held")
	settledValues(t, cluster, "held", held.Owner())

	// Node 0 stops serving commands for a while (CLIENT PAUSE): what is
	// sent to it waits, what is not yet sent stays queued behind.
	if err := cluster.Nodes[0].Client.Do(ctx, "CLIENT", "PAUSE", 1000, "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	if err := held.Extend(ctx); err != nil { // quorum from nodes 1 and 2; node 0's request waits
		t.Fatal(err)
	}
	if err := held.Release(ctx); err != nil { // queued for node 0
		t.Fatal(err)
	}
	fresh := mustAcquire(t, c, "fresh") // quorum from nodes 1 and 2; queued for node 0
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	vals := lockValues(t, cluster, "held")
	if vals[0] != "" {
		t.Fatalf("the release queued before Close did not reach node 0: %q", vals[0])
	}
	if v := lockValues(t, cluster, "fresh")[0]; v != "" {
		t.Fatalf("an acquisition queued before Close was sent after it: node 0 holds %q", v)
	}
	if err := fresh.Release(ctx); !errors.Is(err, lease.ErrClosed) {
		t.Fatalf("Release after Close: %v, want ErrClosed", err)
	}
}

// blackholeNode is a node whose connections never complete: every dial
// hangs until its context ends (or 5 s, a typical dial timeout), as for a
// host that drops packets. The returned stop ends the dials still hanging
// (go-redis dials from goroutines of its own, on contexts of its own) and
// waits for them.
func blackholeNode(addr string) (*redis.Client, func()) {
	gone := make(chan struct{})
	var dials atomic.Int32
	client := redis.NewClient(&redis.Options{
		Addr:       addr,
		MaxRetries: -1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			defer dials.Add(-1)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-gone:
				return nil, errors.New("blackhole closed")
			case <-time.After(5 * time.Second):
				return nil, errors.New("dial timeout")
			}
		},
	})
	return client, func() {
		close(gone)
		_ = client.Close()
		for deadline := time.Now().Add(5 * time.Second); dials.Load() > 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Close does not wait a dial timeout per queued subscription change on a
// blackholed node.
func TestCloseIsBoundedWithABlackholedNode(t *testing.T) {
	cluster := leasetest.Start(t, 2)
	hole, stop := blackholeNode("127.0.0.1:1")
	defer stop()
	c, err := lease.New([]lease.Node{cluster.Nodes[0].Client, cluster.Nodes[1].Client, hole}, lease.WithNodeTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l := mustAcquire(t, c, "hole")
	// Waiters on several resources queue subscribe and unsubscribe changes
	// behind the hung dial.
	for _, r := range []string{"hole", "hole", "hole"} {
		if _, err := c.Acquire(ctx, r, lease.WithWait(50*time.Millisecond)); !errors.Is(err, lease.ErrNotAcquired) {
			t.Fatalf("acquire while held: %v", err)
		}
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v with a blackholed node", took)
	}
	_ = l
}
