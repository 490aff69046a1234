package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
)

// The restart guard (invariant I7). A node that lost its data forgets the
// locks it granted, while their holders still count it in their quorum: one
// such node in a lease's bare quorum, and a second owner can collect a
// quorum with it. So a node that has lost its data grants nothing until
// every lease it may have granted has expired. The acquire script detects
// the loss by the absence of the node key (redlease:node), which every
// acquisition creates and nothing deletes: a node without it starts a guard
// window of the caller's restart guard (WithRestartGuard, the longest TTL a
// client accepts) plus its drift allowance, and answers ErrNodeGuarded
// until the window ends. See acquire.lua for how a node keeps the longest
// guard any client asked for.
//
// What the guard does not cover: a node that lost only its latest writes
// but kept the node key (AOF with appendfsync everysec after a power cut, a
// replica promoted while behind). Such a node must not serve locks at all
// without appendfsync always.

// InitNode declares node ready to grant locks at once: it creates the
// node key of the restart guard if it is missing, and reports whether it
// did. A node that already has the key is left as it is (one in its guard
// window stays in it).
//
// Use it only on a node that has never served locks: a new deployment, a
// test harness, a demo. Never on a node that may have served locks before
// (restarted without persistence, flushed, an empty replica promoted, or
// simply unknown): there it defeats the guard, and a lease that still lives
// on other nodes can get a second owner. When in doubt, let the node sit
// out its guard window.
func InitNode(ctx context.Context, node redis.Scripter) (created bool, err error) {
	if node == nil {
		return false, invalid("node", "nil")
	}
	n, err := script.InitNode.Run(ctx, node, []string{script.NodeKey}).Int64()
	if err != nil {
		return false, fmt.Errorf("lease: init node: %w", err)
	}
	return n == 1, nil
}

// InitNodes runs InitNode on every node of the Client, with the same
// warning: only for nodes that have never served locks. It returns the
// indexes of the nodes it declared ready, and an error joining a
// *NodeError for each node that could not be reached.
func (c *Client) InitNodes(ctx context.Context) (created []int, err error) {
	var errs []error
	for i, node := range c.nodes {
		ok, err := InitNode(ctx, node)
		switch {
		case err != nil:
			errs = append(errs, c.nodeError(reply{node: i, err: err}))
		case ok:
			created = append(created, i)
		}
	}
	return created, errors.Join(errs...)
}
