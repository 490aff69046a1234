package lease

import (
	"context"
	"time"
)

// reply is one node's answer in a round.
type reply struct {
	node int
	val  any
	err  error
}

// round sends o to every node in targets at once, each request bounded by
// the node timeout, and passes replies to decide as they arrive. It
// returns as soon as decide reports the outcome known, every target has
// replied, or the node timeout has passed (every missing reply is then
// passed to decide as ErrNodeTimeout). It does not wait for stragglers:
// they complete in their node's dispatcher, in order with later requests.
//
// Requests carry base: when base is done before a request is sent, the
// request is dropped. The round stops waiting when ctx is done and returns
// ctx's error. Passing a base detached from ctx lets a release go out even
// though the caller gave up.
func (c *Client) round(ctx, base context.Context, targets []int, o *op, decide func(reply) bool) error {
	if len(targets) == 0 {
		return nil
	}
	c.mu.RLock() // no enqueue after Close has stopped the dispatchers
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	replies := make(chan reply, len(targets)) // buffered: dispatchers never block
	deadline := time.Now().Add(c.cfg.nodeTimeout)
	for _, i := range targets {
		c.dispatchers[i].enqueue(&request{ctx: base, deadline: deadline, op: o, node: i, replies: replies})
	}
	c.mu.RUnlock()

	timer := time.NewTimer(c.cfg.nodeTimeout)
	defer timer.Stop()
	answered := make([]bool, len(c.nodes))
	for count := 0; count < len(targets); {
		select {
		case r := <-replies:
			if answered[r.node] {
				continue // already counted as timed out
			}
			answered[r.node] = true
			count++
			if decide(r) {
				return nil
			}
		case <-timer.C:
			for _, i := range targets {
				if !answered[i] {
					answered[i] = true
					count++
					if decide(reply{node: i, err: ErrNodeTimeout}) {
						return nil
					}
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (c *Client) nodeError(r reply) *NodeError {
	return &NodeError{Node: r.node, Addr: c.addrs[r.node], Err: r.err}
}

func (c *Client) allNodes() []int { return c.all }

// send queues o to every node and returns without waiting for the replies
// (a buffered channel nobody reads takes them). Each request is still
// bounded by the node timeout. After Close it sends nothing.
func (c *Client) send(o *op) { c.sendTo(c.all, o) }

// sendTo is send to the nodes in targets only.
func (c *Client) sendTo(targets []int, o *op) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return
	}
	replies := make(chan reply, len(targets))
	deadline := time.Now().Add(c.cfg.nodeTimeout)
	for _, i := range targets {
		c.dispatchers[i].enqueue(&request{ctx: context.Background(), deadline: deadline, op: o, node: i, replies: replies})
	}
}
