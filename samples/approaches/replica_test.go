package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/leasetest"
)

// The replica helper: the replica is synced when returned, follows the
// primary's writes, refuses writes itself, and after Promote accepts them
// and no longer follows. Close stops it and may be called twice.
func TestReplicaHelper(t *testing.T) {
	ctx := context.Background()
	primary := leasetest.Start(t, 1).Nodes[0]
	r, err := leasetest.StartReplica(ctx, primary)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })

	if up, err := r.LinkUp(ctx); !up || err != nil {
		t.Fatalf("link up %v, err %v; want up right after StartReplica", up, err)
	}
	if err := primary.Client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if v := value(ctx, r.Client, "k"); v != "v" {
		t.Fatalf("replica has k=%s, want v", v)
	}
	if err := r.Client.Set(ctx, "w", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("write on the replica: %v, want READONLY", err)
	}

	if err := r.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Client.Set(ctx, "w", "x", 0).Err(); err != nil {
		t.Fatalf("write on the promoted replica: %v", err)
	}
	if up, _ := r.LinkUp(ctx); up {
		t.Fatal("promoted replica still shows its link up")
	}
	if err := primary.Client.Set(ctx, "k", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v := value(ctx, r.Client, "k"); v != "v" {
		t.Fatalf("promoted replica followed the old primary: k=%s", v)
	}

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Running() {
		t.Fatal("replica still running after Close")
	}
	if err := r.Client.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Fatalf("replica client after Close: %v, want redis.ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// StartReplica refuses a primary that is not running.
func TestStartReplicaNeedsARunningPrimary(t *testing.T) {
	primary := leasetest.Start(t, 1).Nodes[0]
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	if r, err := leasetest.StartReplica(context.Background(), primary); err == nil {
		_ = r.Close()
		t.Fatal("StartReplica succeeded with a dead primary")
	}
}
