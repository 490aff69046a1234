package lease

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
)

// ForceRelease deletes resource's lock on every node where its owner is
// still the one ownerID names (Status.OwnerID, from Inspect), whoever that
// owner is, and wakes waiters. It is for operators freeing a resource
// whose holder is gone and unknown (an anonymous owner, say).
//
// Like every release it advances the fence counter where it deleted the
// lock and, for a scope lease, also on the nodes where the scope's lock had
// expired but its record could put it back: a holder that is alive loses
// the resource. A lease's next extension fails (it ends with ErrLost and
// its keeper stops); a scope lease's keeps and acquisitions fail once the
// release reached a quorum (its lock is not put back), with ErrLost as soon
// as one hears from more than N − quorum of the nodes the release reached;
// and once the next holder has written with its newer token, the old
// holder's fenced writes are refused. Until then nothing stops it from
// acting. A lock whose owner changed since Inspect is left alone, and when
// no node holds the owner's lock any more nothing is released (0): its
// holder is then not named, and a scope whose lock expired everywhere can
// still put it back.
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
	released := make([]bool, len(c.nodes))
	// The first round deletes the lock and learns the owner's holder; the
	// second marks the scope's record where the lock had expired (and
	// deletes a lock put back in between).
	holder, err := c.forceRound(ctx, resource, &op{script: script.ForceRelease, keys: []string{k.Lock, k.Fence},
		args: []any{ownerID, k.Channel, resource}, decode: decodeForce}, released)
	if err == nil && holder != "" {
		record, _ := script.ScopeKeys(resource, holder)
		_, err = c.forceRound(ctx, resource, &op{script: script.ForceRelease, keys: []string{k.Lock, k.Fence, record},
			args: []any{ownerID, k.Channel, resource}, decode: decodeForce}, released)
	}
	n := 0
	for _, r := range released {
		if r {
			n++
		}
	}
	return n, err
}

// forceRound runs one force_release.lua round on every node, setting
// released[i] where node i deleted the lock, and returns the owner's
// holder if some node named one.
func (c *Client) forceRound(ctx context.Context, resource string, o *op, released []bool) (string, error) {
	answered, holder := 0, ""
	var failed []*NodeError
	err := c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		if r.err != nil {
			failed = append(failed, c.nodeError(r))
			return false
		}
		answered++
		if f := r.val.(forced); f.deleted {
			released[r.node] = true
			holder = f.holder
		}
		return false
	})
	if err != nil {
		return "", err
	}
	if answered < c.quorum {
		return "", &QuorumError{Op: opRelease, Resource: resource, Quorum: c.quorum, Confirmed: answered, Nodes: sortNodes(failed)}
	}
	return holder, nil
}

// forced is one node's answer to force_release.lua.
type forced struct {
	deleted bool
	holder  string
}

func decodeForce(cmd *redis.Cmd) (any, error) {
	v, err := cmd.Slice()
	if err != nil {
		return nil, err
	}
	if len(v) != 2 {
		return nil, errUnexpected(v)
	}
	n, _ := v[0].(int64)
	h, _ := v[1].(string)
	return forced{deleted: n == 1, holder: h}, nil
}
