package lease

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/redlease/redlease/lease/internal/script"
)

// Listing is the outcome of List.
type Listing struct {
	// Resources are the names found, sorted, at most the max asked for.
	Resources []string
	// Truncated: more names matched than the max, or a node's scan was cut
	// short by the scan budget; the list is not complete.
	Truncated bool
	// Failed are the nodes that did not answer a scan; the resources only
	// they hold are missing from the list.
	Failed []*NodeError
}

// listScanBudget bounds the SCAN calls of one List on one node.
const listScanBudget = 1000

// List returns the resources whose lease lock key (a lock or a release's
// tombstone; permit slots are not listed) is on some node, with names that start with prefix, at most
// max of them. It uses SCAN (COUNT 1000, at most 1,000 calls per node,
// each bounded by the node timeout), never KEYS, so it does not block a
// node; like any SCAN it may miss a key created or deleted while it runs.
// Errors: an *InvalidInputError for max < 1 or a prefix with '{' or '}';
// ErrClosed.
func (c *Client) List(ctx context.Context, prefix string, max int) (Listing, error) {
	if max < 1 {
		return Listing{}, invalid("max", "%d: want at least 1", max)
	}
	if strings.ContainsAny(prefix, "{}") {
		return Listing{}, invalid("prefix", "%q contains '{' or '}'", prefix)
	}
	c.inflight.RLock()
	defer c.inflight.RUnlock()
	c.mu.RLock()
	closed := c.closed
	c.mu.RUnlock()
	if closed {
		return Listing{}, ErrClosed
	}
	match := script.LockPattern(prefix)
	var (
		mu    sync.Mutex
		found = map[string]bool{}
		out   Listing
		wg    sync.WaitGroup
	)
	for i, node := range c.nodes {
		wg.Go(func() {
			names, cut, err := c.scanNode(ctx, node, match, max+1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Failed = append(out.Failed, &NodeError{Node: i, Addr: c.addrs[i], Err: err})
			}
			out.Truncated = out.Truncated || cut
			for _, n := range names {
				found[n] = true
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Listing{}, err
	}
	for n := range found {
		out.Resources = append(out.Resources, n)
	}
	slices.Sort(out.Resources)
	if len(out.Resources) > max {
		out.Resources, out.Truncated = out.Resources[:max], true
	}
	sortNodes(out.Failed)
	return out, nil
}

// scanNode scans one node for lock keys matching match, stopping at want
// names or the scan budget (cut).
func (c *Client) scanNode(ctx context.Context, node Node, match string, want int) (names []string, cut bool, err error) {
	var cursor uint64
	for range listScanBudget {
		callCtx, cancel := context.WithTimeout(ctx, c.cfg.nodeTimeout)
		pipe := node.Pipeline()
		scan := pipe.Scan(callCtx, cursor, match, 1000)
		_, err := pipe.Exec(callCtx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = ErrNodeTimeout
			}
			return names, false, err
		}
		keys, next := scan.Val()
		for _, k := range keys {
			if r, ok := script.ResourceOfLock(k); ok {
				names = append(names, r)
			}
		}
		if len(names) >= want {
			return names, true, nil
		}
		if cursor = next; cursor == 0 {
			return names, false, nil
		}
	}
	return names, true, nil
}
