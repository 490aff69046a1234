package lease_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redlease/redlease/lease/leasetest"
)

// Extend with a cancelled context reports the cancellation
// (errors.Is(err, context.Canceled)) and changes nothing. Release with a
// cancelled context reports it too, but releases all the same: a deferred
// Release(ctx) after ctx ended must not leave the lock behind.
func TestExtendAndReleaseReportCancellation(t *testing.T) {
	c, cluster := newClient(t, 3)
	l := mustAcquire(t, c, "cancelled-calls")
	before := settledValues(t, cluster, "cancelled-calls", l.Owner())
	done, cancel := context.WithCancel(context.Background())
	cancel()
	// Let the TTL run down a little, so that an extension would show.
	var ttls []time.Duration
	waitUntil(t, 5*time.Second, "the TTL below its start", func() bool {
		ttls = pttls(t, cluster, "cancelled-calls")
		return slices.Max(ttls) < l.TTL()-100*time.Millisecond
	})
	if err := l.Extend(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("extend with a cancelled context: %v, want context.Canceled", err)
	}
	assertUnchanged(t, cluster, "cancelled-calls", before, "a cancelled extend")
	for i, ttl := range pttls(t, cluster, "cancelled-calls") {
		if ttl > ttls[i] {
			t.Fatalf("node %d: TTL went up from %v to %v: the cancelled extend ran", i, ttls[i], ttl)
		}
	}
	if err := l.Extend(context.Background()); err != nil {
		t.Fatalf("extend after the cancelled one: %v", err)
	}
	if err := l.Release(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("release with a cancelled context: %v, want context.Canceled", err)
	}
	waitUntil(t, 2*time.Second, "the lock released on every node", func() bool {
		return countOwner(lockValues(t, cluster, "cancelled-calls"), "") == 3
	})
}

// pttls reads the lock's remaining TTL on every node.
func pttls(t *testing.T, cluster *leasetest.Cluster, resource string) []time.Duration {
	t.Helper()
	out := make([]time.Duration, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		ttl, err := n.Client.PTTL(context.Background(), lockKey(resource)).Result()
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		out[i] = ttl
	}
	return out
}
