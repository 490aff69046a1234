package script

import (
	"strconv"
	"strings"
)

// NodeKey is the node-wide key of the restart guard (see acquire.lua and
// init_node.lua). Acquisitions touch it besides the resource's keys, so
// nodes must be standalone servers: on a Redis Cluster the two would sit
// in different slots.
const NodeKey = "redlease:node"

// Keys are one lock's keys on every node: the lock, its fence counter and
// the channel a release announces itself on. A resource's keys all share
// the hash tag {resource}.
type Keys struct {
	Lock, Fence, Channel string
}

// LeaseKeys are the keys of resource's lease.
func LeaseKeys(resource string) Keys {
	// One allocation: the three keys are slices of one string.
	all := "redlease:{" + resource + "}:lock" + "redlease:{" + resource + "}:fence" + "redlease:{" + resource + "}:released"
	n := len("redlease:{}:") + len(resource)
	lock, fence := all[:n+len("lock")], all[n+len("lock"):2*n+len("lockfence")]
	return Keys{Lock: lock, Fence: fence, Channel: all[2*n+len("lockfence"):]}
}

// PermitKeys are the keys of one slot of resource's permits: its lock and
// fence counter, and the channel every slot's release announces itself on.
func PermitKeys(resource string, slot int) Keys {
	base := "redlease:{" + resource + "}:permit:" + strconv.Itoa(slot)
	return Keys{Lock: base, Fence: base + ":fence", Channel: "redlease:{" + resource + "}:permits:released"}
}

// PermitLimitKey holds the limit resource's permits were acquired with.
func PermitLimitKey(resource string) string { return "redlease:{" + resource + "}:permits:limit" }

// ScopeKeys are the record and progress keys of holder's scope on
// resource's lease.
func ScopeKeys(resource, holder string) (record, progress string) {
	base := "redlease:{" + resource + "}:"
	return base + "scope:" + holder, base + "progress:" + holder
}

// PermitScopeKeys are the record and progress keys of holder's scope on
// resource's permits, whatever the slot.
func PermitScopeKeys(resource, holder string) (record, progress string) {
	base := "redlease:{" + resource + "}:permits:"
	return base + "scope:" + holder, base + "progress:" + holder
}

// LockPattern is the SCAN MATCH pattern of the lease locks of resources
// whose names start with prefix.
func LockPattern(prefix string) string {
	return "redlease:{" + globEscape(prefix) + "*}:lock"
}

// ResourceOfLock is the resource of a lease lock key redlease:{R}:lock.
func ResourceOfLock(key string) (string, bool) {
	r, ok := strings.CutPrefix(key, "redlease:{")
	if !ok {
		return "", false
	}
	r, ok = strings.CutSuffix(r, "}:lock")
	return r, ok && r != "" && !strings.ContainsAny(r, "{}")
}

// globEscape escapes the glob characters of a SCAN MATCH pattern.
func globEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`).Replace(s)
}
