package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// redlockFailure returns the scenario: client 1 holds the lock on all 5
// nodes; nodes 0..kill-1 are killed (and restarted empty when restart is
// true); client 2, a separate lease.Client, tries to acquire the same lock.
//
// With one node restarted empty, client 1 still holds 4 nodes and client 2
// can get at most 1 of the 3 it needs. With two killed, the 3 survivors are
// a quorum for new locks. With three killed there is no quorum at all. With
// three restarted empty, a majority has forgotten client 1: Redlock's
// assumption that nodes keep their data is broken, and so is the lock.
func redlockFailure(kill int, restart bool) func(context.Context, env) (outcome, error) {
	return func(ctx context.Context, e env) (outcome, error) {
		o := outcome{ownersAfterTTL: -1}
		client1, err := newRedlock(e.nodes)
		if err != nil {
			return o, err
		}
		defer client1.c.Close()
		client2, err := newRedlock(e.nodes)
		if err != nil {
			return o, err
		}
		defer client2.c.Close()

		h1, err := client1.acquire(ctx, resource)
		if err != nil {
			return o, err
		}
		l1 := h1.(redlockHeld).l
		if err := settled(ctx, e.nodes, l1.Owner()); err != nil {
			return o, err
		}
		o.note("client 1 acquired %q on all 5 nodes, token %d", resource, l1.Token())

		for _, n := range e.nodes[:kill] {
			if err := n.Kill(); err != nil {
				return o, err
			}
			if restart {
				if err := n.Restart(ctx); err != nil {
					return o, err
				}
				if err := reachable(ctx, n.Client); err != nil {
					return o, err
				}
			}
		}
		if restart {
			o.note("%s killed and restarted empty: on node 0, lock key %s, fence counter %s",
				plural(kill, "node"), value(ctx, e.nodes[0].Client, lockKey(resource)), value(ctx, e.nodes[0].Client, fenceKey(resource)))
		} else {
			o.note("%s killed (SIGKILL), left down", plural(kill, "node"))
		}

		h2, err := client2.acquire(ctx, resource)
		o.note("client 2: %v", errText(err))
		if h2 != nil {
			t1, t2 := l1.Token(), h2.(redlockHeld).l.Token()
			why := " (higher: a fence counter never falls below the acquiring client's clock in µs, so it survives the data loss)"
			if t2 <= t1 {
				why = " (not higher: the fence counters went with the data)"
			}
			o.note("fencing tokens: client 1 has %d, client 2 got %d%s", t1, t2, why)
		}
		o.owners = owners(h1, h2)
		o.note("client 1 still counts on %s of its lease: owners at once: %d", left(h1), o.owners)
		o.available = probe(ctx, client2)
		o.note("a lock on a fresh key acquired and released: %s", yesNo(o.available))
		releaseAll(ctx, h1, h2)
		return o, ctx.Err()
	}
}

// newRedlock is one Redlock client over the nodes (one per "process").
func newRedlock(nodes []*leasetest.Node) (redlock, error) {
	ns := make([]lease.Node, len(nodes))
	for i, n := range nodes {
		ns[i] = n.Client
	}
	c, err := lease.New(ns, lease.WithTTL(ttl), lease.WithNodeTimeout(nodeTimeout))
	return redlock{c}, err
}

// lockKey and fenceKey are package lease's keys for a resource (see the
// repository README, "How it works").
func lockKey(resource string) string  { return "redlease:{" + resource + "}:lock" }
func fenceKey(resource string) string { return "redlease:{" + resource + "}:fence" }

// settled waits until owner's lock is on every node: Acquire returns at a
// quorum, the last nodes answer a moment later.
func settled(ctx context.Context, nodes []*leasetest.Node, owner string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		on := 0
		for _, n := range nodes {
			if v, _ := n.Client.Get(ctx, lockKey(resource)).Result(); v == owner {
				on++
			}
		}
		if on == len(nodes) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock on %d of %d nodes: %w", on, len(nodes), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// reachable waits until rdb answers PING, so that a restarted node's
// client has dropped its dead connections before the scenario goes on.
func reachable(ctx context.Context, rdb *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
