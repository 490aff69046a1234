package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

// A caller without an epoch has the earliest one: its takeover never takes
// a lock of a later epoch of the same holder.
func TestTakeoverWithoutEpochLeavesALaterEpochAlone(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	h := "ns/wf/run/default"
	later := mustAcquire(t, c, "epochs", lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(100, 2)))
	held := settledValues(t, cluster, "epochs", later.Owner())
	if _, err := c.Acquire(ctx, "epochs", lease.WithHolder(h), lease.WithTakeover()); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("takeover without an epoch over epoch 2: %v, want ErrNotAcquired", err)
	}
	assertUnchanged(t, cluster, "epochs", held, "a takeover without an epoch")

	// Equal (empty) epochs do take over: a retry of the same attempt.
	first := mustAcquire(t, c, "plain", lease.WithHolder(h))
	retry := mustAcquire(t, c, "plain", lease.WithHolder(h), lease.WithTakeover())
	if retry.Token() <= first.Token() {
		t.Fatalf("takeover token %d not above %d", retry.Token(), first.Token())
	}
	if err := later.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// A release tombstone refuses every attempt of the holder from its epoch
// or earlier, the empty epoch included, and admits other holders.
func TestTombstoneRefusesAttemptsWithoutEpoch(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	h := "ns/wf/run/default"
	l := mustAcquire(t, c, "tomb", lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(100, 1)))
	if err := c.ReleaseHolder(ctx, "tomb", h, lease.NewEpoch(200, 1), time.Minute); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the tombstone on every node", func() bool {
		return countOwner(lockValues(t, cluster, "tomb"), h+"#"+string(lease.NewEpoch(200, 1))+"#") == 3
	})
	for name, opts := range map[string][]lease.AcquireOption{
		"holder alone":          {lease.WithHolder(h)},
		"holder with takeover":  {lease.WithHolder(h), lease.WithTakeover()},
		"the tombstone's epoch": {lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(200, 1))},
		"an earlier epoch":      {lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(150, 1)), lease.WithTakeover()},
		"the released lease's":  {lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(100, 1)), lease.WithTakeover()},
	} {
		if _, err := c.Acquire(ctx, "tomb", opts...); !errors.Is(err, lease.ErrNotAcquired) {
			t.Fatalf("%s walked through the tombstone: %v", name, err)
		}
	}
	next := mustAcquire(t, c, "tomb", lease.WithHolder(h), lease.WithEpoch(lease.NewEpoch(300, 1)))
	if next.Token() <= l.Token() {
		t.Fatalf("token %d not above %d", next.Token(), l.Token())
	}
	if err := next.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
