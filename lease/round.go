package lease

import (
	"context"
	"sync"
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
	p, err := c.post(true, targets, roundOp{base: base, op: o})
	if err != nil {
		return err
	}
	return c.collect(ctx, p[0], decide)
}

// decided reports whether a round of every node has its outcome: ok
// confirmations make the quorum, proof answers prove a loss (more than
// N − quorum nodes say the caller no longer holds them), or the pending
// answers can change neither. A failed round that stopped as soon as the
// quorum was out of reach would report a loss the nodes prove — a release
// reached them all — as a mere want of nodes whenever the nodes that
// failed first include one that proves nothing (down, in its restart
// guard), and its caller would go on as if it might still hold.
func (c *Client) decided(ok, proof, pending int) bool {
	n := len(c.nodes)
	return ok >= c.quorum || proof > n-c.quorum || (ok+pending < c.quorum && proof+pending <= n-c.quorum)
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
//
// With direct, on a Client of one node whose client bounds every request
// by its context's deadline (Client.direct), the caller sends its requests
// itself when nothing else is queued or under way for the node: post then
// returns with the replies in hand, within one node timeout, and a ctx
// that ends meanwhile is seen only then. Only a caller that collects the
// round, holds c.inflight and holds no other lock may ask for it.
func (c *Client) post(direct bool, targets []int, ops ...roundOp) ([]*posted, error) {
	c.mu.RLock() // no enqueue after Close has stopped the dispatchers
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	deadline := time.Now().Add(c.cfg.nodeTimeout)
	var ps []*posted
	var reqs []request
	var ptrs []*request
	if len(ops) == 1 && len(targets) <= 5 { // the usual round: one allocation besides the channel
		one := &struct {
			p    posted
			ps   [1]*posted
			reqs [5]request
			ptrs [5]*request
		}{}
		one.ps[0] = &one.p
		ps, reqs, ptrs = one.ps[:], one.reqs[:len(targets)], one.ptrs[:len(targets)]
	} else {
		ps = make([]*posted, len(ops))
		for j := range ops {
			ps[j] = &posted{}
		}
		reqs = make([]request, len(targets)*len(ops))
		ptrs = make([]*request, len(targets)*len(ops))
	}
	for _, p := range ps {
		*p = posted{targets: targets, replies: make(chan reply, len(targets)), deadline: deadline}
	}
	for t, i := range targets {
		rs := ptrs[t*len(ops) : (t+1)*len(ops)]
		for j, o := range ops {
			r := &reqs[t*len(ops)+j]
			*r = request{ctx: o.base, deadline: deadline, op: o.op, node: i, replies: ps[j].replies}
			rs[j] = r
		}
		d := c.dispatchers[i]
		if direct && c.direct && d.claim() {
			c.directSends.Add(1)
			d.send(rs)
			d.unclaim()
			continue
		}
		d.enqueue(rs...)
	}
	return ps, nil
}

// collect passes p's replies to decide as they arrive, as round describes.
func (c *Client) collect(ctx context.Context, p *posted, decide func(reply) bool) error {
	if err := ctx.Err(); err != nil {
		// Already ended: say so, whatever replies are waiting (a select
		// would pick among ready cases at random).
		return err
	}
	timer := getTimer(time.Until(p.deadline))
	defer putTimer(timer)
	var answered nodeSet
	if len(c.nodes) > 64 {
		answered.more = make([]bool, len(c.nodes))
	}
	for count := 0; count < len(p.targets); {
		select {
		case r := <-p.replies:
			if answered.has(r.node) {
				continue // already counted as timed out
			}
			answered.add(r.node)
			count++
			if decide(r) {
				return nil
			}
		case <-timer.C:
			for _, i := range p.targets {
				if !answered.has(i) {
					answered.add(i)
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

// timers are reused by collect: a round's timer is stopped before it goes
// back, and a stopped timer delivers no stale tick after Reset (Go 1.23+).
var timers sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	if !t.Stop() {
		select { // a tick left in the channel (GODEBUG=asynctimerchan=1)
		case <-t.C:
		default:
		}
	}
	timers.Put(t)
}

// nodeSet is a set of node indexes: a bit mask up to 64 nodes, a slice
// beyond.
type nodeSet struct {
	bits uint64
	more []bool
}

func (s *nodeSet) has(i int) bool {
	if s.more != nil {
		return s.more[i]
	}
	return s.bits&(1<<i) != 0
}

func (s *nodeSet) add(i int) {
	if s.more != nil {
		s.more[i] = true
		return
	}
	s.bits |= 1 << i
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
	_, _ = c.post(false, targets, roundOp{base: context.Background(), op: o})
}
