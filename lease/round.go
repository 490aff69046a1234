package lease

import (
	"context"
	"sync/atomic"
	"time"
)

// reply is one node's answer in a round.
type reply struct {
	node int
	val  any
	err  error
}

// nodeCall sends one request to one node.
type nodeCall func(ctx context.Context, node Node) (any, error)

// round sends call to every node in targets at once, each request bounded
// by the node timeout, and passes replies to decide as they arrive. It
// returns as soon as decide reports the outcome known, every target has
// replied, or the node timeout has passed (every missing reply is then
// passed to decide as ErrNodeTimeout). It does not wait for stragglers;
// they finish in the background, counted by the Client's inflight group.
//
// Requests run under base (with the node timeout); the round stops waiting
// when ctx is done and returns ctx's error. Passing a base detached from
// ctx lets requests that are already sent complete after the caller gives up.
//
// settled, when not nil, is closed once every request of the round has
// finished, stragglers included (at once if none was sent). A later round
// that must not overtake this one (a release after an acquisition) waits
// for it: requests on different connections can reach a node in any order.
func (c *Client) round(ctx, base context.Context, targets []int, call nodeCall, decide func(reply) bool, settled chan<- struct{}) error {
	if len(targets) == 0 {
		closeIfSet(settled)
		return nil
	}
	if err := c.begin(len(targets)); err != nil {
		closeIfSet(settled)
		return err
	}
	var remaining atomic.Int32
	remaining.Store(int32(len(targets)))
	replies := make(chan reply, len(targets)) // buffered: senders never block
	for _, i := range targets {
		go func(i int) {
			defer c.inflight.Done()
			defer func() {
				if remaining.Add(-1) == 0 {
					closeIfSet(settled)
				}
			}()
			nctx, cancel := context.WithTimeout(base, c.cfg.nodeTimeout)
			defer cancel()
			val, err := call(nctx, c.nodes[i])
			if err != nil && nctx.Err() == context.DeadlineExceeded {
				err = ErrNodeTimeout
			}
			replies <- reply{node: i, val: val, err: err}
		}(i)
	}
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

func closeIfSet(ch chan<- struct{}) {
	if ch != nil {
		close(ch)
	}
}

// awaitSettled waits until the rounds behind settled have finished, but at
// most one node timeout: a request stuck on a client that ignores context
// deadlines must not stall the caller.
func (c *Client) awaitSettled(settled ...<-chan struct{}) {
	var timeout <-chan time.Time
	for _, ch := range settled {
		select {
		case <-ch:
			continue
		default:
		}
		if timeout == nil {
			timer := time.NewTimer(c.cfg.nodeTimeout)
			defer timer.Stop()
			timeout = timer.C
		}
		select {
		case <-ch:
		case <-timeout:
			return
		}
	}
}

func (c *Client) nodeError(r reply) *NodeError {
	return &NodeError{Node: r.node, Addr: c.addrs[r.node], Err: r.err}
}

func (c *Client) allNodes() []int {
	all := make([]int, len(c.nodes))
	for i := range all {
		all[i] = i
	}
	return all
}
