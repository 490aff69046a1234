package main

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// singleNode is the simplest Redis lock: SET key owner NX PX ttl on one
// server, and a compare-and-delete script to release it. It is approach 1
// on its own node, and approach 3 when that node is a primary with a replica.
type singleNode struct {
	rdb *redis.Client
	ttl time.Duration
}

// compareAndDelete deletes KEYS[1] only if it still holds this owner's value.
var compareAndDelete = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

func (s singleNode) acquire(ctx context.Context, key string) (held, error) {
	owner := newOwner()
	start := time.Now()
	err := s.rdb.Do(ctx, "SET", key, owner, "NX", "PX", s.ttl.Milliseconds()).Err()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, errHeld
	case err != nil:
		return nil, err
	}
	return &singleHeld{rdb: s.rdb, key: key, owner: owner, validUntil: validity(start, s.ttl)}, nil
}

// singleHeld is a lock taken by singleNode.
type singleHeld struct {
	rdb        *redis.Client
	key        string
	owner      string
	validUntil time.Time
	freed      bool
}

func (h *singleHeld) release(ctx context.Context) error {
	h.freed = true
	return compareAndDelete.Run(ctx, h.rdb, []string{h.key}, h.owner).Err()
}

func (h *singleHeld) valid() bool      { return !h.freed && time.Now().Before(h.validUntil) }
func (h *singleHeld) until() time.Time { return h.validUntil }
