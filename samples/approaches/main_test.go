package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/leasetest"
	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine outlives the tests: every
// redis client, lease.Client and redis-server watcher must be stopped.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the killed nodes' failed dials are expected
	// go-redis retries a failed dial (a killed node) from a goroutine that
	// sleeps 1 s between tries and ends at its next wake-up once the client
	// is closed: not ours to wait for.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// Part A runs on every approach and prints a row for each.
func TestPerformanceMeasuresEveryApproach(t *testing.T) {
	cluster := leasetest.Start(t, perfNodes)
	leasetest.Replicate(t, cluster.Nodes[6])
	as, locks, err := approaches(cluster.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	defer locks.Close()
	var out bytes.Buffer
	if err := performance(context.Background(), &out, as, 4, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if !strings.Contains(out.String(), a.name) {
			t.Errorf("no row for %s in:\n%s", a.name, out.String())
		}
	}
}

// The single-node lock refuses a second owner and releases only its own.
func TestSingleNodeLock(t *testing.T) {
	cluster := leasetest.Start(t, 1)
	ctx := context.Background()
	lock := singleNode{rdb: cluster.Nodes[0].Client, ttl: ttl}
	h1, err := lock.acquire(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.acquire(ctx, "k"); err != errHeld {
		t.Fatalf("second acquire: %v, want errHeld", err)
	}
	if !h1.valid() {
		t.Fatal("holder does not believe it holds the lock")
	}
	if err := h1.release(ctx); err != nil {
		t.Fatal(err)
	}
	h2, err := lock.acquire(ctx, "k")
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if err := h1.release(ctx); err != nil || value(ctx, cluster.Nodes[0].Client, "k") == "absent" {
		t.Fatalf("a stale release deleted the new owner's lock (err %v)", err)
	}
	_ = h2.release(ctx)
}
