package lease

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts run as EVALSHA in each node's pipeline; when a node answers
// NOSCRIPT (a restart emptied its script cache) the dispatcher loads them
// all (SCRIPT LOAD) and sends the batch again.
var (
	//go:embed scripts/acquire.lua
	acquireSource string
	//go:embed scripts/raise_fence.lua
	raiseFenceSource string
	//go:embed scripts/extend.lua
	extendSource string
	//go:embed scripts/release.lua
	releaseSource string

	acquireScript    = redis.NewScript(acquireSource)
	raiseFenceScript = redis.NewScript(raiseFenceSource)
	extendScript     = redis.NewScript(extendSource)
	releaseScript    = redis.NewScript(releaseSource)

	scriptSources = []string{acquireSource, raiseFenceSource, extendSource, releaseSource}
)

func decodeInt64(c *redis.Cmd) (any, error)      { return c.Int64() }
func decodeInt64Slice(c *redis.Cmd) (any, error) { return c.Int64Slice() }

// keys of one resource on every node. All share the hash tag {resource} so a
// script touches a single slot, also on Redis Cluster.
type keys struct {
	resource, lock, fence, channel string
}

func keysFor(resource string) keys {
	base := "redlease:{" + resource + "}:"
	return keys{resource: resource, lock: base + "lock", fence: base + "fence", channel: base + "released"}
}
