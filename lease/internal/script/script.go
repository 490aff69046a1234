// Package script holds what redlease runs on the Redis nodes: the Lua
// scripts, sent as EVALSHA (a node that answers NOSCRIPT gets them all
// with SCRIPT LOAD), and the key layout they work on. Nothing here talks
// to a node.
package script

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed guard.lua
	guardSource string // a function shared by acquire.lua and scope.lua
	//go:embed acquire.lua
	acquireBody string
	//go:embed raise_fence.lua
	raiseFenceSource string
	//go:embed healable.lua
	healableSource string // a function shared by extend.lua and heal.lua
	//go:embed extend.lua
	extendBody string
	//go:embed release.lua
	releaseSource string
	//go:embed init_node.lua
	initNodeSource string
	//go:embed heal.lua
	healBody string
	//go:embed scope.lua
	scopeBody string
	//go:embed scope_release.lua
	scopeReleaseBody string
	//go:embed scope_undo.lua
	scopeUndoSource string
	//go:embed progress_check.lua
	progressCheckSource string
	//go:embed progress_commit.lua
	progressCommitSource string
	//go:embed progress_load.lua
	progressLoadSource string
	//go:embed permit_limit.lua
	permitLimitSource string // the limit check put before acquire.lua's or scope.lua's body
	//go:embed permit_free.lua
	permitFreeSource string
	//go:embed permit_limit_repair.lua
	permitLimitRepairSource string
	//go:embed inspect.lua
	inspectSource string
	//go:embed force_release.lua
	forceReleaseSource string
)

// Sources of the scripts that are more than one file.
var (
	acquireSource      = guardSource + acquireBody
	extendSource       = healableSource + extendBody
	healSource         = healableSource + healBody
	scopeSource        = guardSource + scopeBody
	scopeReleaseSource = "local function release_lock()\n" + releaseSource + "\nend\n" + scopeReleaseBody
	permitAcquireSrc   = guardSource + permitLimitSource + acquireBody
	permitScopeSrc     = guardSource + permitLimitSource + scopeBody
)

// The scripts. Each file's header comment states its KEYS, ARGV and reply.
var (
	Acquire           = redis.NewScript(acquireSource)
	RaiseFence        = redis.NewScript(raiseFenceSource)
	Extend            = redis.NewScript(extendSource)
	Release           = redis.NewScript(releaseSource)
	InitNode          = redis.NewScript(initNodeSource)
	Heal              = redis.NewScript(healSource)
	Scope             = redis.NewScript(scopeSource)
	ScopeRelease      = redis.NewScript(scopeReleaseSource)
	ScopeUndo         = redis.NewScript(scopeUndoSource)
	ProgressCheck     = redis.NewScript(progressCheckSource)
	ProgressCommit    = redis.NewScript(progressCommitSource)
	ProgressLoad      = redis.NewScript(progressLoadSource)
	PermitAcquire     = redis.NewScript(permitAcquireSrc)
	PermitFree        = redis.NewScript(permitFreeSource)
	PermitScopeStart  = redis.NewScript(permitScopeSrc)
	PermitLimitRepair = redis.NewScript(permitLimitRepairSource)
	Inspect           = redis.NewScript(inspectSource)
	ForceRelease      = redis.NewScript(forceReleaseSource)
)

// Sources are the scripts' Lua sources, for SCRIPT LOAD.
var Sources = []string{acquireSource, raiseFenceSource, extendSource, releaseSource, initNodeSource, healSource,
	scopeSource, scopeReleaseSource, scopeUndoSource, progressCheckSource, progressCommitSource, progressLoadSource,
	permitAcquireSrc, permitFreeSource, permitScopeSrc, permitLimitRepairSource, inspectSource, forceReleaseSource}

// SHA1s are the scripts' SHA-1 digests, in Sources' order.
func SHA1s() []string {
	shas := make([]string, len(Sources))
	for i, src := range Sources {
		shas[i] = redis.NewScript(src).Hash()
	}
	return shas
}
