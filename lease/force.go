package lease

import (
	"context"
	"encoding/hex"
	"strings"
)

// ForceRelease deletes resource's lock on every node where its owner is
// still the one ownerID names (Status.OwnerID, from Inspect), whoever that
// owner is, advances the fence counter there, and wakes waiters. It is for
// operators freeing a resource whose holder is gone and unknown (an
// anonymous owner, say). A holder that is alive loses the resource: a
// lease's next extension fails (it ends with ErrLost and its keeper
// stops); a scope lease's next keep or acquisition finds the counter moved
// and fails with ErrLost (so its lock is not put back); and once the next
// holder has written with its newer token, the old holder's fenced writes
// are refused. Until then nothing stops it from acting. A lock whose owner
// changed since Inspect is left alone.
//
// It returns on how many nodes it deleted the lock, after every node
// answered or the node timeout. Errors: an *InvalidInputError for a bad
// resource or an ownerID that is not 8 hex digits; a *QuorumError
// (ErrNotReleased) when fewer than a quorum of nodes answered.
func (c *Client) ForceRelease(ctx context.Context, resource, ownerID string) (int, error) {
	if err := checkResource(resource); err != nil {
		return 0, err
	}
	if _, err := hex.DecodeString(ownerID); err != nil || len(ownerID) != 8 || strings.ToLower(ownerID) != ownerID {
		return 0, invalid("owner id", "%q is not the 8 lower-case hex digits Inspect shows", ownerID)
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	k := keysFor(resource)
	o := &op{script: forceReleaseScript, keys: []string{k.lock, k.fence}, args: []any{ownerID, k.channel, resource}, decode: decodeInt64}
	answered, released := 0, 0
	var failed []*NodeError
	err := c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		if r.err != nil {
			failed = append(failed, c.nodeError(r))
			return false
		}
		answered++
		if r.val == int64(1) {
			released++
		}
		return false
	})
	if err != nil {
		return released, err
	}
	if answered < c.quorum {
		return released, &QuorumError{Op: opRelease, Resource: resource, Quorum: c.quorum, Confirmed: answered, Nodes: sortNodes(failed)}
	}
	return released, nil
}
