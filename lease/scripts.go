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
	//go:embed scripts/healable.lua
	healableSource string // a function shared by extend.lua and heal.lua
	//go:embed scripts/extend.lua
	extendBody   string
	extendSource = healableSource + extendBody
	//go:embed scripts/release.lua
	releaseSource string
	//go:embed scripts/init_node.lua
	initNodeSource string
	//go:embed scripts/heal.lua
	healBody   string
	healSource = healableSource + healBody

	acquireScript    = redis.NewScript(acquireSource)
	raiseFenceScript = redis.NewScript(raiseFenceSource)
	extendScript     = redis.NewScript(extendSource)
	releaseScript    = redis.NewScript(releaseSource)
	initNodeScript   = redis.NewScript(initNodeSource)
	healScript       = redis.NewScript(healSource)

	scriptSources = []string{acquireSource, raiseFenceSource, extendSource, releaseSource, initNodeSource, healSource}
)

func decodeInt64(c *redis.Cmd) (any, error)      { return c.Int64() }
func decodeInt64Slice(c *redis.Cmd) (any, error) { return c.Int64Slice() }

// nodeKey is the node-wide key of the restart guard (see acquire.lua and
// InitNode). Acquisitions touch it besides the resource's keys, so nodes
// must be standalone servers: on a Redis Cluster the two would sit in
// different slots.
const nodeKey = "redlease:node"

// keys of one resource on every node. All share the hash tag {resource}.
type keys struct {
	resource, lock, fence, channel string
}

func keysFor(resource string) keys {
	base := "redlease:{" + resource + "}:"
	return keys{resource: resource, lock: base + "lock", fence: base + "fence", channel: base + "released"}
}
