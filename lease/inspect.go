package lease

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
)

// LockState is what a node holds in a resource's lock key.
type LockState string

// Lock states of NodeState.Lock.
const (
	LockFree      LockState = "free"      // no lock
	LockHeld      LockState = "held"      // an owner's lock
	LockTombstone LockState = "tombstone" // a release's tombstone (holder#epoch#): free for others, keeps late attempts of the holder out
	LockUnknown   LockState = "down"      // the node did not answer
)

// NodeState is what one node holds for a resource (Client.Inspect). It
// never carries the owner value itself, which is a credential: OwnerID
// identifies it.
type NodeState struct {
	Node int
	Addr string
	// Err is why the node did not answer (down, slow, refused); the
	// other fields are then zero and Lock is LockUnknown.
	Err  error
	Lock LockState
	// Holder and Epoch of the lock's owner (held) or of the release
	// (tombstone); Holder is "" for an anonymous owner (Acquire without
	// WithHolder).
	Holder string
	Epoch  Epoch
	// OwnerID is a short digest of the owner value (held only): equal on
	// nodes that hold the same owner's lock.
	OwnerID string
	// TTL left on the lock or tombstone; 0 when free, -1 without expiry.
	TTL time.Duration
	// Fence is the resource's fence counter on this node: the highest
	// token it handed out, or one past it for each release since (a
	// release advances it, see ReleaseOwner).
	Fence int64
	// Guard is the node's restart guard state: "ready" (grants locks),
	// "guarded" (lost its data and grants nothing for GuardedFor more),
	// or "new" (no node key: a new node, or one that lost its data and
	// has not been asked for a lock since; it will start a guard window).
	Guard      string
	GuardedFor time.Duration
	// GuardWindow is the longest restart guard the node has been asked
	// for (its node key); a client with a shorter one is refused.
	GuardWindow time.Duration
	// Clock is the node's time (its TIME) when it answered.
	Clock time.Time
}

// Status is the resource's state across the nodes, and the verdict.
type Status struct {
	Resource string
	Quorum   int
	Nodes    []NodeState
	// Held: one owner's lock is on a quorum of nodes. Holder, Epoch and
	// OwnerID name it; HeldOn is on how many nodes; ValidFor is how long
	// at least a quorum of them still holds it (the quorum-th longest
	// TTL), as the nodes count (no drift allowance); -1 without expiry.
	Held     bool
	Holder   string
	Epoch    Epoch
	OwnerID  string
	HeldOn   int
	ValidFor time.Duration
	// Token is the highest fence counter among the nodes that answered:
	// the latest token handed out for the resource, as far as they know.
	Token int64
	// Answered is how many nodes answered.
	Answered int
}

// Inspect reads what every node holds for resource's lease (not its
// permit slots) — lock, tombstone, TTL,
// fence counter, restart guard — and judges it: held (by whom, for how
// long) when one owner's lock is on a quorum. It reads only, waits for
// every node or the node timeout, and never returns an owner value.
// Errors: an *InvalidInputError for a bad resource name; ErrClosed.
func (c *Client) Inspect(ctx context.Context, resource string) (Status, error) {
	if err := checkResource(resource); err != nil {
		return Status{}, err
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	k := keysFor(resource)
	st := Status{Resource: resource, Quorum: c.quorum, Nodes: make([]NodeState, len(c.nodes))}
	for i := range st.Nodes {
		st.Nodes[i] = NodeState{Node: i, Addr: c.addrs[i], Lock: LockUnknown}
	}
	o := &op{script: script.Inspect, keys: []string{k.Lock, k.Fence, script.NodeKey}, decode: decodeSlice}
	err := c.round(ctx, ctx, c.allNodes(), o, func(r reply) bool {
		n := &st.Nodes[r.node]
		if r.err != nil {
			n.Err = r.err
			return false
		}
		v, _ := r.val.([]any)
		if err := n.parse(v); err != nil {
			n.Err = err
			return false
		}
		st.Answered++
		return false
	})
	if err != nil {
		return st, err
	}
	st.judge()
	return st, nil
}

func decodeSlice(c *redis.Cmd) (any, error) { return c.Slice() }

// parse fills n from inspect.lua's reply.
func (n *NodeState) parse(v []any) error {
	if len(v) != 5 {
		// The reply's shape only: its first element is an owner value.
		return fmt.Errorf("lease: unexpected inspect reply: %d elements, want 5", len(v))
	}
	value, _ := v[0].(string)
	pttl, _ := v[1].(int64)
	fence, _ := v[2].(string)
	nodeKey, _ := v[3].(string)
	now, _ := v[4].(int64)
	n.Clock = time.UnixMilli(now)
	n.Fence, _ = strconv.ParseInt(fence, 10, 64)
	switch {
	case value == "":
		n.Lock = LockFree
	case strings.HasSuffix(value, "#"):
		n.Lock = LockTombstone
		holder, epoch, _ := strings.Cut(strings.TrimSuffix(value, "#"), "#")
		n.Holder, n.Epoch = holder, Epoch(epoch)
	default:
		n.Lock = LockHeld
		n.OwnerID = ownerID(value)
		if parts := strings.Split(value, "#"); len(parts) == 3 {
			n.Holder, n.Epoch = parts[0], Epoch(parts[1])
		}
	}
	if n.Lock != LockFree {
		n.TTL = time.Duration(pttl) * time.Millisecond
		if pttl == -1 {
			n.TTL = -1
		}
	}
	n.Guard, n.GuardedFor = guardState(nodeKey, now)
	if want, _, ok := strings.Cut(nodeKey, ":"); ok {
		ms, _ := strconv.ParseInt(want, 10, 64)
		n.GuardWindow = time.Duration(ms) * time.Millisecond
	}
	return nil
}

// guardState reads the node key (want:window:since:state, see guard.lua)
// at the node's time now (ms).
func guardState(nodeKey string, now int64) (string, time.Duration) {
	if nodeKey == "" {
		return "new", 0
	}
	parts := strings.Split(nodeKey, ":")
	if len(parts) != 4 {
		return "malformed", 0
	}
	if parts[3] == "r" {
		return "ready", 0
	}
	window, err1 := strconv.ParseInt(parts[1], 10, 64)
	since, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return "malformed", 0
	}
	if left := since + window - now; left > 0 {
		return "guarded", time.Duration(left) * time.Millisecond
	}
	return "ready", 0 // the window is over; the next acquisition marks it
}

// ownerID is the first 8 hex digits of the owner value's SHA-1: enough to
// tell owners apart, nothing to act for one (ForceRelease compares it on
// the node, with redis.sha1hex).
func ownerID(owner string) string {
	sum := sha1.Sum([]byte(owner))
	return hex.EncodeToString(sum[:4])
}

// judge sets the verdict from the nodes' states.
func (st *Status) judge() {
	byOwner := map[string][]NodeState{}
	for _, n := range st.Nodes {
		if n.Err == nil {
			st.Token = max(st.Token, n.Fence)
		}
		if n.Lock == LockHeld {
			byOwner[n.OwnerID] = append(byOwner[n.OwnerID], n)
		}
	}
	for id, nodes := range byOwner {
		if len(nodes) < st.Quorum {
			continue
		}
		ttls := make([]time.Duration, len(nodes))
		for i, n := range nodes {
			ttls[i] = n.TTL
			if n.TTL < 0 {
				ttls[i] = time.Duration(1<<63 - 1)
			}
		}
		slices.Sort(ttls)
		slices.Reverse(ttls)
		st.Held, st.OwnerID, st.HeldOn = true, id, len(nodes)
		st.Holder, st.Epoch = nodes[0].Holder, nodes[0].Epoch
		st.ValidFor = ttls[st.Quorum-1]
		if st.ValidFor == time.Duration(1<<63-1) {
			st.ValidFor = -1 // a quorum holds it without expiry
		}
	}
}

// String is a one-line verdict.
func (st Status) String() string {
	switch {
	case st.Answered < st.Quorum:
		return fmt.Sprintf("%s: unknown: %d of %d nodes answered, %d needed", st.Resource, st.Answered, len(st.Nodes), st.Quorum)
	case st.Held:
		who := st.Holder
		if who == "" {
			who = "an anonymous owner"
		}
		return fmt.Sprintf("%s: held by %s (owner %s) on %d of %d nodes, valid for %v, highest token %d",
			st.Resource, who, st.OwnerID, st.HeldOn, len(st.Nodes), st.ValidFor.Round(time.Millisecond), st.Token)
	}
	return fmt.Sprintf("%s: free (no owner on a quorum), highest token %d", st.Resource, st.Token)
}
