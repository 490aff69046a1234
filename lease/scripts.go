package lease

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The scripts run as EVALSHA in each node's pipeline; when a node answers
// NOSCRIPT (a restart emptied its script cache) the dispatcher loads them
// all (SCRIPT LOAD) and sends the batch again.
var (
	//go:embed scripts/guard.lua
	guardSource string // a function shared by acquire.lua and scope.lua
	//go:embed scripts/acquire.lua
	acquireBody   string
	acquireSource = guardSource + acquireBody
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
	//go:embed scripts/scope.lua
	scopeBody   string
	scopeSource = guardSource + scopeBody
	//go:embed scripts/scope_release.lua
	scopeReleaseBody   string
	scopeReleaseSource = "local function release_lock()\n" + releaseSource + "\nend\n" + scopeReleaseBody
	//go:embed scripts/scope_undo.lua
	scopeUndoSource string
	//go:embed scripts/progress_check.lua
	progressCheckSource string
	//go:embed scripts/progress_commit.lua
	progressCommitSource string
	//go:embed scripts/progress_load.lua
	progressLoadSource string
	//go:embed scripts/permit_limit.lua
	permitLimitSource      string // the limit check put before acquire.lua's or scope.lua's body
	permitAcquireSource    = guardSource + permitLimitSource + acquireBody
	permitScopeStartSource = guardSource + permitLimitSource + scopeBody
	//go:embed scripts/permit_free.lua
	permitFreeSource string
	//go:embed scripts/permit_limit_repair.lua
	permitLimitRepairSource string
	//go:embed scripts/inspect.lua
	inspectSource string
	//go:embed scripts/force_release.lua
	forceReleaseSource string

	acquireScript           = redis.NewScript(acquireSource)
	raiseFenceScript        = redis.NewScript(raiseFenceSource)
	extendScript            = redis.NewScript(extendSource)
	releaseScript           = redis.NewScript(releaseSource)
	initNodeScript          = redis.NewScript(initNodeSource)
	healScript              = redis.NewScript(healSource)
	scopeScript             = redis.NewScript(scopeSource)
	scopeReleaseScript      = redis.NewScript(scopeReleaseSource)
	scopeUndoScript         = redis.NewScript(scopeUndoSource)
	progressCheckScript     = redis.NewScript(progressCheckSource)
	progressCommitScript    = redis.NewScript(progressCommitSource)
	progressLoadScript      = redis.NewScript(progressLoadSource)
	permitAcquireScript     = redis.NewScript(permitAcquireSource)
	permitFreeScript        = redis.NewScript(permitFreeSource)
	permitScopeStartScript  = redis.NewScript(permitScopeStartSource)
	permitLimitRepairScript = redis.NewScript(permitLimitRepairSource)
	inspectScript           = redis.NewScript(inspectSource)
	forceReleaseScript      = redis.NewScript(forceReleaseSource)

	scriptSources = []string{acquireSource, raiseFenceSource, extendSource, releaseSource, initNodeSource, healSource,
		scopeSource, scopeReleaseSource, scopeUndoSource, progressCheckSource, progressCommitSource, progressLoadSource,
		permitAcquireSource, permitFreeSource, permitScopeStartSource, permitLimitRepairSource, inspectSource, forceReleaseSource}
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
	// permitLimit is K for a permit's slot (AcquirePermit), 0 for a lease:
	// the permit's end is counted in MetricPermitsHeld, and a release hands
	// the slot only to a waiter for a permit of the same limit.
	permitLimit int
	slot        int // the permit's slot (permitKeys)
}

func keysFor(resource string) keys {
	// One allocation: the three keys are slices of one string.
	all := "redlease:{" + resource + "}:lock" + "redlease:{" + resource + "}:fence" + "redlease:{" + resource + "}:released"
	n := len("redlease:{}:") + len(resource)
	lock, fence := all[:n+len("lock")], all[n+len("lock"):2*n+len("lockfence")]
	return keys{resource: resource, lock: lock, fence: fence, channel: all[2*n+len("lockfence"):]}
}

// scopeKeys are the keys of holder's scope on resource (see scope.go).
func scopeKeys(resource, holder string) (record, progress string) {
	base := "redlease:{" + resource + "}:"
	return base + "scope:" + holder, base + "progress:" + holder
}

// ScriptSHA1s are the SHA-1 digests of the scripts a Client runs on the
// nodes (EVALSHA), for tools that check a node's script cache. A node
// loads any that are missing on first use.
func ScriptSHA1s() []string {
	shas := make([]string, len(scriptSources))
	for i, src := range scriptSources {
		shas[i] = redis.NewScript(src).Hash()
	}
	return shas
}
