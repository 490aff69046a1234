package main

import (
	"context"
	"time"
)

// resource is the lock every failure scenario fights over.
const resource = "invoice/42"

// shortTTL is client 1's lease time where the scenario waits for it to
// run out.
const shortTTL = 500 * time.Millisecond

// singleNodeKilled: client 1 holds the lock on the only node; the node
// dies and stays down. Nobody can acquire, not even after client 1's lease
// has run out: the single point of failure.
func singleNodeKilled(ctx context.Context, e env) (outcome, error) {
	o := outcome{ownersAfterTTL: -1}
	node := e.nodes[0]
	lock := singleNode{rdb: node.Client, ttl: shortTTL}
	c1, err := lock.acquire(ctx, resource)
	if err != nil {
		return o, err
	}
	o.note("client 1 acquired %q on %s (ttl %v)", resource, node.Addr, shortTTL)
	if err := node.Kill(); err != nil {
		return o, err
	}
	o.note("node killed (SIGKILL)")
	c2, err := lock.acquire(ctx, resource)
	o.note("client 2: %v", errText(err))
	o.owners = owners(c1, c2)
	o.note("client 1 still counts on %s of its lease: owners at once: %d", left(c1), o.owners)
	select {
	case <-ctx.Done():
		return o, ctx.Err()
	case <-time.After(time.Until(c1.until())):
	}
	c2, err = lock.acquire(ctx, resource)
	o.note("client 1's lease ran out; client 2 again: %v", errText(err))
	o.ownersAfterTTL = owners(c1, c2)
	o.note("owners at once: %d, until the node comes back", o.ownersAfterTTL)
	o.available = probe(ctx, lock)
	return o, ctx.Err()
}

// singleNodeRestarted: client 1 holds the lock; the node restarts without
// its data (no persistence, or writes not yet fsynced), and client 2 gets
// the same lock while client 1's lease still runs.
func singleNodeRestarted(ctx context.Context, e env) (outcome, error) {
	o := outcome{ownersAfterTTL: -1}
	node := e.nodes[0]
	lock := singleNode{rdb: node.Client, ttl: ttl}
	c1, err := lock.acquire(ctx, resource)
	if err != nil {
		return o, err
	}
	o.note("client 1 acquired %q on %s", resource, node.Addr)
	if err := node.Restart(ctx); err != nil {
		return o, err
	}
	if err := reachable(ctx, node.Client); err != nil {
		return o, err
	}
	o.note("node killed and restarted empty")
	c2, err := lock.acquire(ctx, resource)
	o.note("client 2: %v", errText(err))
	o.owners = owners(c1, c2)
	o.note("client 1 still counts on %s of its lease: owners at once: %d", left(c1), o.owners)
	o.available = probe(ctx, lock)
	releaseAll(ctx, c1, c2)
	return o, ctx.Err()
}

// releaseAll releases whatever was acquired, ignoring failures (a dead
// node cannot confirm; the keys expire by their TTL).
func releaseAll(ctx context.Context, hs ...held) {
	for _, h := range hs {
		if h != nil {
			_ = h.release(ctx)
		}
	}
}
