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
	p, err := c.post(targets, roundOp{base: base, op: o})
	if err != nil {
		return err
	}
	return c.collect(ctx, p[0], decide)
}

// roundOp is one round's op and the context its requests carry.
type roundOp struct {
	base context.Context
	op   *op
}

// posted is a round whose requests are queued: collect reads its replies.
type posted struct {
	targets  []int
	replies  chan reply // buffered: dispatchers never block
	deadline time.Time  // the node timeout, counted from queueing
}

// post queues one round per op to every node in targets, the ops of one
// node in the given order and in one step, so that a node's dispatcher sends
// them in that order and usually in one pipeline. It returns ErrClosed
// after Close.
func (c *Client) post(targets []int, ops ...roundOp) ([]*posted, error) {
	c.mu.RLock() // no enqueue after Close has stopped the dispatchers
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	deadline := time.Now().Add(c.cfg.nodeTimeout)
	ps := make([]*posted, len(ops))
	for j := range ops {
		ps[j] = &posted{targets: targets, replies: make(chan reply, len(targets)), deadline: deadline}
	}
	for _, i := range targets {
		rs := make([]*request, len(ops))
		for j, o := range ops {
			rs[j] = &request{ctx: o.base, deadline: deadline, op: o.op, node: i, replies: ps[j].replies}
		}
		c.dispatchers[i].enqueue(rs...)
	}
	return ps, nil
}

// collect passes p's replies to decide as they arrive, as round describes.
func (c *Client) collect(ctx context.Context, p *posted, decide func(reply) bool) error {
	timer := time.NewTimer(time.Until(p.deadline))
	defer timer.Stop()
	answered := make([]bool, len(c.nodes))
	for count := 0; count < len(p.targets); {
		select {
		case r := <-p.replies:
			if answered[r.node] {
				continue // already counted as timed out
			}
			answered[r.node] = true
			count++
			if decide(r) {
				return nil
			}
		case <-timer.C:
			for _, i := range p.targets {
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
	_, _ = c.post(targets, roundOp{base: context.Background(), op: o})
}
