package lease

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts run with redis.Script.Run: EVALSHA first, EVAL when the node
// answers NOSCRIPT (for example after a restart emptied its script cache).
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
)

// keys of one resource on every node. All share the hash tag {resource} so a
// script touches a single slot, also on Redis Cluster.
type keys struct {
	resource, lock, fence, channel string
}

func keysFor(resource string) keys {
	base := "redlease:{" + resource + "}:"
	return keys{resource: resource, lock: base + "lock", fence: base + "fence", channel: base + "released"}
}
