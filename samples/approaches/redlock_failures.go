package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// redlockFailure returns the scenario: client 1 holds the lock on all 5
// nodes; nodes 0..kill-1 are killed (and restarted empty when restart is
// true); client 2, a separate lease.Client, tries to acquire the same lock.
//
// A node restarted empty has lost the restart guard's node key with the
// rest of its data and is not initialised again (leasetest's Restart), so
// it grants nothing for one guard window (the default restart guard, 1
// minute, plus drift) from the first acquisition that reaches it.
//
// With one node restarted empty, client 1 still holds 4 nodes and client 2
// can get at most 1 of the 3 it needs; fresh keys still have 4 nodes. With
// two killed, the 3 survivors are a quorum for new locks. With three
// killed there is no quorum at all. With three restarted empty, a majority
// has forgotten client 1, beyond Redlock's assumption that nodes keep
// their data: the guard keeps those three from granting, so client 1
// stays the only owner, and nobody can lock even a fresh key (2 nodes
// left, 3 needed) until the guard ends.
func redlockFailure(kill int, restart bool) func(context.Context, env) (outcome, error) {
	return func(ctx context.Context, e env) (outcome, error) {
		o := outcome{ownersAfterTTL: -1}
		client1, client2, closeBoth, err := twoRedlocks(e.nodes)
		if err != nil {
			return o, err
		}
		defer closeBoth()

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
			o.note("%s killed and restarted empty, not initialised: on node 0, lock key %s, fence counter %s, node key %s (so it is guarded from the first acquisition that reaches it)",
				plural(kill, "node"), value(ctx, e.nodes[0].Client, lockKey(resource)), value(ctx, e.nodes[0].Client, fenceKey(resource)), value(ctx, e.nodes[0].Client, nodeKey))
		} else {
			o.note("%s killed (SIGKILL), left down", plural(kill, "node"))
		}

		h2, err := client2.acquire(ctx, resource)
		o.guarded = o.guarded || len(guardedNodes(err)) > 0
		o.note("client 2: %v", errText(err))
		noteTokens(&o, l1, h2)
		o.owners = owners(h1, h2)
		if restart {
			o.note("client 1 still counts on %s of its lease (its lock is left on %s): owners at once: %d",
				left(h1), nodeList(holding(ctx, e.nodes, l1.Owner())), o.owners)
		} else {
			o.note("client 1 still counts on %s of its lease: owners at once: %d", left(h1), o.owners)
		}
		noteProbe(ctx, &o, client2)
		if restart {
			states := make([]string, kill)
			for i, n := range e.nodes[:kill] {
				states[i] = fmt.Sprintf("node %d %s", i, guardState(ctx, n.Client))
			}
			o.note("restart guard, read from the node key and clock of each restarted node: %s", strings.Join(states, "; "))
		}
		releaseAll(ctx, h1, h2)
		return o, ctx.Err()
	}
}

// redlockBareQuorum returns the scenario of a lease on a bare quorum:
// client 1 holds the lock on exactly nodes 0, 1 and 2 of 5 (nodes 3 and 4
// are down during its acquisition and come back afterwards as new nodes).
// Node 0 restarts empty, and client 2 asks for the lock: nodes 3 and 4 are
// free, so node 0 alone stands between client 2 and the quorum {0, 3, 4}.
//
// Without the guard (guard false), node 0 is declared new with
// lease.InitNode after its restart, which is what a deployment without the
// restart guard looks like: the node grants at once, and client 2 gets the
// lock while client 1's lease lives. With the guard, node 0 is left as it
// restarted: it lost the guard's node key with the rest of its data, so it
// refuses (lease.ErrNodeGuarded) for one guard window, longer than any
// lease it may have granted; fresh keys still have nodes 1 to 4.
func redlockBareQuorum(guard bool) func(context.Context, env) (outcome, error) {
	return func(ctx context.Context, e env) (outcome, error) {
		o := outcome{ownersAfterTTL: -1}
		client1, client2, closeBoth, err := twoRedlocks(e.nodes)
		if err != nil {
			return o, err
		}
		defer closeBoth()

		// Nodes 3 and 4 are down while client 1 acquires, then come back
		// as new nodes that never served a lock (lease.InitNode). (A
		// blocker value deleted after Acquire returns would race with the
		// acquisition's requests still on their way to nodes 3 and 4.)
		away := e.nodes[3:]
		for _, n := range away {
			if err := n.Kill(); err != nil {
				return o, err
			}
		}
		h1, err := client1.acquire(ctx, resource)
		if err != nil {
			return o, err
		}
		l1 := h1.(redlockHeld).l
		for _, n := range away {
			if err := n.Restart(ctx); err != nil {
				return o, err
			}
			if err := reachable(ctx, n.Client); err != nil {
				return o, err
			}
			if err := n.InitNew(ctx); err != nil {
				return o, err
			}
		}
		if err := settled(ctx, e.nodes[:3], l1.Owner()); err != nil {
			return o, err
		}
		on := holding(ctx, e.nodes, l1.Owner())
		if !slices.Equal(on, []int{0, 1, 2}) {
			return o, fmt.Errorf("client 1's lock is on %s, want nodes 0, 1, 2", nodeList(on))
		}
		o.note("client 1 acquired %q while nodes 3 and 4 were down (back since, as new nodes): it holds %s only, a bare quorum, token %d",
			resource, nodeList(on), l1.Token())

		node0 := e.nodes[0]
		if err := node0.Restart(ctx); err != nil {
			return o, err
		}
		if err := reachable(ctx, node0.Client); err != nil {
			return o, err
		}
		lost := fmt.Sprintf("lock key %s, node key %s", value(ctx, node0.Client, lockKey(resource)), value(ctx, node0.Client, nodeKey))
		if guard {
			o.note("node 0 killed and restarted empty (%s), not initialised: guarded from the first acquisition that reaches it", lost)
		} else {
			created, err := lease.InitNode(ctx, node0.Client)
			if err != nil {
				return o, err
			}
			o.note("node 0 killed and restarted empty (%s), then declared new with lease.InitNode (node key created: %v): what a deployment without the restart guard does, the node grants at once",
				lost, created)
		}

		h2, err := client2.acquire(ctx, resource)
		o.guarded = o.guarded || len(guardedNodes(err)) > 0
		if h2 != nil {
			o.note("client 2: acquired, on %s", nodeList(holding(ctx, e.nodes, h2.(redlockHeld).l.Owner())))
		} else {
			o.note("client 2: %v", errText(err))
		}
		noteTokens(&o, l1, h2)
		o.owners = owners(h1, h2)
		o.note("client 1 still counts on %s of its lease (its lock is left on %s): owners at once: %d",
			left(h1), nodeList(holding(ctx, e.nodes, l1.Owner())), o.owners)
		noteProbe(ctx, &o, client2)
		o.note("restart guard, read from node 0's node key and clock: %s", guardState(ctx, node0.Client))
		releaseAll(ctx, h1, h2)
		return o, ctx.Err()
	}
}

// noteTokens compares the fencing tokens when client 2 got the lock too.
func noteTokens(o *outcome, l1 *lease.Lease, h2 held) {
	if h2 == nil {
		return
	}
	t1, t2 := l1.Token(), h2.(redlockHeld).l.Token()
	why := " (higher: a fence counter never falls below the acquiring client's clock in µs, so it survives the data loss)"
	if t2 <= t1 {
		why = " (not higher: the fence counters went with the data)"
	}
	o.note("fencing tokens: client 1 has %d, client 2 got %d%s", t1, t2, why)
}

// noteProbe sets o.available by locking and releasing a fresh key, and
// notes why it could not.
func noteProbe(ctx context.Context, o *outcome, lock redlock) {
	err := probeErr(ctx, lock)
	o.available = err == nil
	o.guarded = o.guarded || len(guardedNodes(err)) > 0
	if err == nil {
		o.note("a lock on a fresh key: acquired and released")
		return
	}
	o.note("a lock on a fresh key: %s", errText(err))
}

// guardState reads a node's restart guard from its node key (the format
// of lease/internal/script/acquire.lua, "guard:window:since:state" in ms of the
// node's clock) and the node's TIME: whether it grants locks, and if not,
// for how long more.
func guardState(ctx context.Context, rdb *redis.Client) string {
	v := value(ctx, rdb, nodeKey)
	f := strings.Split(v, ":")
	if len(f) != 4 {
		return "node key " + v
	}
	window, err1 := strconv.ParseInt(f[1], 10, 64)
	since, err2 := strconv.ParseInt(f[2], 10, 64)
	now, err3 := rdb.Time(ctx).Result()
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Sprintf("node key %s (%v)", v, err)
	}
	left := time.Duration(since+window-now.UnixMilli()) * time.Millisecond
	if f[3] != "g" || left <= 0 {
		return "grants locks"
	}
	return fmt.Sprintf("guarded, grants again in %v", left.Round(100*time.Millisecond))
}

// holding returns the indexes of the nodes whose lock key holds owner.
func holding(ctx context.Context, nodes []*leasetest.Node, owner string) []int {
	var on []int
	for i, n := range nodes {
		if v, _ := n.Client.Get(ctx, lockKey(resource)).Result(); v == owner {
			on = append(on, i)
		}
	}
	return on
}

// twoRedlocks is two Redlock clients over the nodes, two "processes", and
// a function that closes both.
func twoRedlocks(nodes []*leasetest.Node) (client1, client2 redlock, closeBoth func(), err error) {
	if client1, err = newRedlock(nodes); err != nil {
		return client1, client2, nil, err
	}
	if client2, err = newRedlock(nodes); err != nil {
		client1.c.Close()
		return client1, client2, nil, err
	}
	return client1, client2, func() { client1.c.Close(); client2.c.Close() }, nil
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

// nodeKey is the restart guard's key on each node: created by
// lease.InitNode, or by the first acquisition that reaches a node without
// it (which starts the node's guard); lost with the rest of its data.
const nodeKey = "redlease:node"

// settled waits until owner's lock is on every node of nodes: Acquire returns at a
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
