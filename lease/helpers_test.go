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
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// newClient starts n real redis-server nodes and a lease.Client over them.
// The node timeout is 250 ms unless opts say otherwise: generous enough that
// a loaded machine running -race does not turn slow replies into failures.
func newClient(t *testing.T, n int, opts ...lease.Option) (*lease.Client, *leasetest.Cluster) {
	t.Helper()
	cluster := leasetest.Start(t, n)
	return clientOn(t, cluster, opts...), cluster
}

// clientOn is a lease.Client over cluster's nodes (another one stands for
// another process), with the same 250 ms node timeout default, closed in
// t.Cleanup.
func clientOn(t *testing.T, cluster *leasetest.Cluster, opts ...lease.Option) *lease.Client {
	t.Helper()
	opts = append([]lease.Option{lease.WithNodeTimeout(250 * time.Millisecond)}, opts...)
	c, err := lease.New(cluster.LeaseNodes(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func lockKey(resource string) string  { return "redlease:{" + resource + "}:lock" }
func fenceKey(resource string) string { return "redlease:{" + resource + "}:fence" }

// lockValues reads the lock key on every node ("" when absent, killed or paused).
func lockValues(t *testing.T, cluster *leasetest.Cluster, resource string) []string {
	t.Helper()
	vals := make([]string, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		v, err := n.Client.Get(context.Background(), lockKey(resource)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("node %d: %v", i, err)
		}
		vals[i] = v
	}
	return vals
}

// fences reads the fence counter on every node (0 when absent, killed or paused).
func fences(t *testing.T, cluster *leasetest.Cluster, resource string) []int64 {
	t.Helper()
	out := make([]int64, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		v, err := n.Client.Get(context.Background(), fenceKey(resource)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("node %d: %v", i, err)
		}
		out[i] = v
	}
	return out
}

// settledValues waits until owner is on every running node (the acquire
// round returns at quorum; the last nodes answer a moment later), then
// returns the lock values.
func settledValues(t *testing.T, cluster *leasetest.Cluster, resource, owner string) []string {
	t.Helper()
	running := 0
	for _, n := range cluster.Nodes {
		if n.Running() && !n.Paused() {
			running++
		}
	}
	waitUntil(t, 2*time.Second, "owner value on every running node", func() bool {
		return countOwner(lockValues(t, cluster, resource), owner) == running
	})
	return lockValues(t, cluster, resource)
}

// waitReleased waits until no node holds a lock on resource: Release
// returns at a quorum, the other nodes follow a moment later.
func waitReleased(t *testing.T, cluster *leasetest.Cluster, resource string) {
	t.Helper()
	waitUntil(t, 2*time.Second, "lock gone from every node", func() bool {
		vals := lockValues(t, cluster, resource)
		return countOwner(vals, "") == len(vals)
	})
}

// assertUnchanged fails when the lock values differ from before.
func assertUnchanged(t *testing.T, cluster *leasetest.Cluster, resource string, before []string, what string) {
	t.Helper()
	after := lockValues(t, cluster, resource)
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("%s changed node %d's lock from %q to %q", what, i, before[i], after[i])
		}
	}
}

// countOwner counts nodes whose lock value is owner.
func countOwner(vals []string, owner string) int {
	n := 0
	for _, v := range vals {
		if v == owner {
			n++
		}
	}
	return n
}

// nodeKey is the restart guard's node-wide key.
const nodeKey = "redlease:node"

// keyCount is the total number of keys over the running nodes, the restart
// guard's node key left out.
func keyCount(t *testing.T, cluster *leasetest.Cluster) int64 {
	t.Helper()
	var total int64
	for i, n := range cluster.Nodes {
		if !n.Running() {
			continue
		}
		size, err := n.Client.DBSize(context.Background()).Result()
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		guard, err := n.Client.Exists(context.Background(), nodeKey).Result()
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		total += size - guard
	}
	return total
}

// waitUntil polls cond every 5 ms until it holds or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustAcquire(t *testing.T, c *lease.Client, resource string, opts ...lease.AcquireOption) *lease.Lease {
	t.Helper()
	l, err := c.Acquire(context.Background(), resource, opts...)
	if err != nil {
		t.Fatalf("acquire %q: %v", resource, err)
	}
	return l
}

// contention returns a meter provider option for a client and a function
// that reads how many acquire rounds found the lock held so far
// (lease.MetricContention): tests wait on it to know a waiter has tried and
// is waiting, instead of sleeping.
func contention(t *testing.T) (lease.Option, func() int64) {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	opt := lease.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	return opt, func() int64 { return counterSum(t, reader, lease.MetricContention) }
}

// counterSum collects reader and sums the data points of the int64
// counter name (0 when it has none).
func counterSum(t *testing.T, reader *sdkmetric.ManualReader, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
				for _, p := range d.DataPoints {
					n += p.Value
				}
			}
		}
	}
	return n
}

// fencedSections has each of workers goroutines take resource sections
// times with WithWait through c, entering reg with its token inside.
func fencedSections(t *testing.T, c *lease.Client, reg *leasetest.FencedRegister, resource string, workers, sections int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range sections {
				l, err := c.Acquire(ctx, resource, lease.WithWait(20*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				if err := reg.Enter(l.Token(), fmt.Sprint("worker ", w)); err != nil {
					t.Error(err)
				}
				reg.Exit(l.Token())
				if err := l.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

// waitForWaiter returns once a waiter on resource has found the lock held
// (the contention counter passed since) and listens for its release on
// every running node (PUBSUB NUMSUB), so a release now must wake it.
func waitForWaiter(t *testing.T, cluster *leasetest.Cluster, resource string, contended func() int64, since int64) {
	t.Helper()
	channel := "redlease:{" + resource + "}:released"
	waitUntil(t, 5*time.Second, "a waiter that found the lock held and listens for its release", func() bool {
		if contended() <= since {
			return false
		}
		for i, n := range cluster.Nodes {
			if !n.Running() || n.Paused() {
				continue
			}
			subs, err := n.Client.PubSubNumSub(context.Background(), channel).Result()
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
			if subs[channel] == 0 {
				return false
			}
		}
		return true
	})
}

// initRestarted declares a node that was just restarted new (InitNode).
func initRestarted(t *testing.T, node *leasetest.Node) {
	t.Helper()
	if err := node.InitNew(context.Background()); err != nil {
		t.Fatal(err)
	}
}
