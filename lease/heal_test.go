package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

// A release made elsewhere stays a release: the holder's keeper sees
// ErrLost at its next extension and never puts the lock back, whichever
// way the lock was released.
func TestKeeperNeverUndoesAReleaseMadeElsewhere(t *testing.T) {
	for name, release := range map[string]func(c *lease.Client, l *lease.Lease) error{
		"ReleaseOwner": func(c *lease.Client, l *lease.Lease) error {
			return c.ReleaseOwner(context.Background(), l.Resource(), l.Owner())
		},
		"ReleaseHolder without epoch": func(c *lease.Client, l *lease.Lease) error {
			return c.ReleaseHolder(context.Background(), l.Resource(), l.Holder(), "", 0)
		},
		"ReleaseHolder whose tombstone expired": func(c *lease.Client, l *lease.Lease) error {
			return c.ReleaseHolder(context.Background(), l.Resource(), l.Holder(), lease.NewEpoch(9), time.Millisecond)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, cluster := newClient(t, 5, lease.WithTTL(900*time.Millisecond))
			other := clientOn(t, cluster, lease.WithTTL(900*time.Millisecond))
			l := mustAcquire(t, c, "job", lease.WithHolder("ns/wf/run/default"), lease.WithKeepAlive(0))
			settledValues(t, cluster, "job", l.Owner())
			if err := release(other, l); err != nil {
				t.Fatal(err)
			}
			select {
			case <-l.Done():
			case <-time.After(3 * time.Second):
				t.Fatalf("keeper still running after the release: err %v, locks %q", l.Err(), lockValues(t, cluster, "job"))
			}
			if !errors.Is(l.Err(), lease.ErrLost) {
				t.Fatalf("lease ended with %v, want ErrLost", l.Err())
			}
			waitUntil(t, 2*time.Second, "no lock of the lease on any node", func() bool {
				return countOwner(lockValues(t, cluster, "job"), l.Owner()) == 0
			})
			// And nobody is kept out: another holder gets it at once.
			n := mustAcquire(t, other, "job")
			if n.Token() <= l.Token() {
				t.Fatalf("token %d not above %d", n.Token(), l.Token())
			}
		})
	}
}

// Healing still works where it should: on nodes that lost their data,
// while the lease holds a quorum, the holder's next extension puts its lock
// back.
func TestExtendHealsNodesThatLostTheirData(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithTTL(2*time.Second), lease.WithRestartGuard(2*time.Second))
	ctx := context.Background()
	l := mustAcquire(t, c, "heal")
	settledValues(t, cluster, "heal", l.Owner())
	for _, i := range []int{0, 1} {
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 2*time.Second, "an extension through the restarted nodes", func() bool {
		return l.Extend(ctx) == nil // the first request to a restarted node may meet a dead connection
	})
	waitUntil(t, 2*time.Second, "healed on every node", func() bool {
		return countOwner(lockValues(t, cluster, "heal"), l.Owner()) == 5
	})
	for i, f := range fences(t, cluster, "heal") {
		if f != l.Token() {
			t.Fatalf("node %d counter %d after the heal, want the token %d", i, f, l.Token())
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// Healing never makes up a quorum: when a majority of the lease's nodes
// lost their data, the lease cannot be extended and ends lost (its copies
// are not put back), and nobody else gets the lock during the guard.
func TestHealingNeverMakesUpAQuorum(t *testing.T) {
	c, cluster := newClient(t, 5, lease.WithTTL(2*time.Second), lease.WithRestartGuard(3*time.Second))
	ctx := context.Background()
	l := mustAcquire(t, c, "no-makeup")
	settledValues(t, cluster, "no-makeup", l.Owner())
	for _, i := range []int{0, 1, 2} {
		if err := cluster.Nodes[i].Restart(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 2*time.Second, "Extend reports the lease lost", func() bool {
		return errors.Is(l.Extend(ctx), lease.ErrLost)
	})
	time.Sleep(50 * time.Millisecond) // let any (wrong) heal land
	for i, v := range lockValues(t, cluster, "no-makeup")[:3] {
		if v == l.Owner() {
			t.Fatalf("node %d healed for a lease without a quorum", i)
		}
	}
}
