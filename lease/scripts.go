package lease

import (
	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
)

func decodeInt64(c *redis.Cmd) (any, error)      { return c.Int64() }
func decodeInt64Slice(c *redis.Cmd) (any, error) { return c.Int64Slice() }

// keys of one lock (a lease, or a permit's slot) on every node.
type keys struct {
	script.Keys
	resource string
	// permitLimit is K for a permit's slot (AcquirePermit), 0 for a lease:
	// the permit's end is counted in MetricPermitsHeld, and a release hands
	// the slot only to a waiter for a permit of the same limit.
	permitLimit int
	slot        int // the permit's slot (permitKeys)
}

func keysFor(resource string) keys { return keys{Keys: script.LeaseKeys(resource), resource: resource} }

// permitKeys are the keys of one slot of resource's permits.
func permitKeys(resource string, slot int) keys {
	return keys{Keys: script.PermitKeys(resource, slot), resource: resource, slot: slot}
}

// ScriptSHA1s are the SHA-1 digests of the scripts a Client runs on the
// nodes (EVALSHA), for tools that check a node's script cache. A node
// loads any that are missing on first use.
func ScriptSHA1s() []string { return script.SHA1s() }
