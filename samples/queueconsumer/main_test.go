package main

import (
	"context"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// With the lease, every message is recorded exactly once and in order;
// without it, the same consumers break the queue (the test would be
// meaningless if the baseline happened to pass, so it checks that too).
func TestConsumersWithLeaseProcessExactlyOnceInOrder(t *testing.T) {
	cluster := leasetest.Start(t, 6)
	locks, err := lease.New(cluster.LeaseNodes()[:5], lease.WithTTL(5*time.Second), lease.WithNodeTimeout(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer locks.Close()
	ctx := context.Background()
	q := queue{rdb: cluster.Nodes[5].Client, name: "test"}

	for _, withLease := range []bool{true, false} {
		if err := q.produce(ctx, 100); err != nil {
			t.Fatal(err)
		}
		l := locks
		if !withLease {
			l = nil
		}
		if err := consume(ctx, q, l, 4, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		out, err := q.output(ctx)
		if err != nil {
			t.Fatal(err)
		}
		missing, dups, disorder := verify(out, 100)
		broken := missing+dups+disorder > 0
		if withLease && broken {
			t.Fatalf("with the lease: %d missing, %d duplicates, %d out of order", missing, dups, disorder)
		}
		if !withLease && !broken {
			t.Fatalf("without the lease the queue stayed intact: the baseline demonstrates nothing")
		}
	}
}

func TestVerifyCountsEachKindOfDamage(t *testing.T) {
	out := []string{"0|msg-0|a", "2|msg-2|b", "2|msg-2|c"}
	missing, dups, disorder := verify(out, 3)
	if missing != 1 || dups != 1 || disorder != 1 {
		t.Fatalf("missing %d, duplicates %d, out of order %d; want 1, 1, 1", missing, dups, disorder)
	}
}
