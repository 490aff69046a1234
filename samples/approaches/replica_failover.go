package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// replicaFailover: the single-node lock on a primary with one replica.
// Client 1 acquires on the primary, the primary dies before the lock key
// reaches the replica, the replica is promoted (what a failover does), and
// client 2 acquires the same lock there while client 1's lease still runs.
//
// Asynchronous replication acknowledges a write before the replica has it;
// the window in which the primary can die with the write unreplicated is
// real but short. To open it deterministically, the replica is paused
// (SIGSTOP: it cannot reconnect) and the primary drops the replication link
// (CLIENT KILL TYPE replica) just before client 1's write: the primary
// then holds the write in no replica's stream, exactly as when it dies
// before sending it. Nothing else differs from a real failover.
func replicaFailover(ctx context.Context, e env) (outcome, error) {
	o := outcome{ownersAfterTTL: -1}
	primary, replica := e.nodes[0], e.replica
	if err := primary.Client.Set(ctx, "config", "v1", 0).Err(); err != nil {
		return o, err
	}
	if err := replica.WaitSynced(ctx); err != nil {
		return o, err
	}
	o.note("replica %s in sync with primary %s (config=v1 replicated)", replica.Addr, primary.Addr)

	if err := replica.Pause(); err != nil {
		return o, err
	}
	dropped, err := primary.Client.ClientKillByFilter(ctx, "TYPE", "replica").Result()
	if err != nil {
		return o, errors.Join(err, replica.Resume())
	}
	o.note("replica paused (SIGSTOP); primary dropped %d replica link (CLIENT KILL TYPE replica)", dropped)

	c1, err := singleNode{rdb: primary.Client, ttl: ttl}.acquire(ctx, resource)
	if err != nil {
		return o, errors.Join(err, replica.Resume())
	}
	o.note("client 1 acquired %q on the primary: the primary acknowledged, the replica has not got it", resource)

	if err := errors.Join(primary.Kill(), replica.Resume(), replica.Promote(ctx)); err != nil {
		return o, err
	}
	o.note("primary killed (SIGKILL); replica resumed and promoted (REPLICAOF NO ONE)")
	o.note("promoted replica has config=%s, lock key %s", value(ctx, replica.Client, "config"), value(ctx, replica.Client, resource))

	c2, err := singleNode{rdb: replica.Client, ttl: ttl}.acquire(ctx, resource)
	o.note("client 2 on the promoted replica: %v", errText(err))
	o.owners = owners(c1, c2)
	o.note("client 1 still counts on %s of its lease: two owners: %s", left(c1), yesNo(o.owners == 2))
	o.available = probe(ctx, singleNode{rdb: replica.Client, ttl: ttl})
	releaseAll(ctx, c2)
	return o, ctx.Err()
}

// value reads key for the evidence: its value, "absent", or the error.
func value(ctx context.Context, rdb *redis.Client, key string) string {
	v, err := rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "absent"
	case err != nil:
		return fmt.Sprintf("unreadable (%v)", err)
	}
	return v
}
