package lease

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// request is one script call to one node.
type request struct {
	ctx      context.Context // the caller's (or a detached) context: a done ctx drops the request
	deadline time.Time       // the round's node timeout: a request not sent by then is dropped
	op       *op
	node     int
	replies  chan<- reply // buffered by the round: never blocks
}

// op is what a round asks every node: one script with its keys and
// arguments, and how to read the reply.
type op struct {
	script *redis.Script
	keys   []string
	args   []any
	decode func(*redis.Cmd) (any, error)
}

// dispatcher owns the requests to one node. It sends whatever is queued as
// one pipeline, waits for the replies, then sends the next batch, so
// requests reach a node in the order they were queued: a release can never
// overtake the acquisition or extension before it on the same node. Many
// concurrent operations share one round trip per batch.
type dispatcher struct {
	node  Node
	index int

	mu      sync.Mutex
	pending []*request
	stopped bool
	kick    chan struct{} // capacity 1: pending is not empty
	stop    chan struct{}
	done    chan struct{}
}

func newDispatcher(node Node, index int) *dispatcher {
	d := &dispatcher{node: node, index: index, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// enqueue queues r, or answers ErrClosed at once after close.
func (d *dispatcher) enqueue(r *request) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		r.replies <- reply{node: r.node, err: ErrClosed}
		return
	}
	d.pending = append(d.pending, r)
	d.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	for {
		select {
		case <-d.stop:
			d.mu.Lock()
			d.stopped = true
			rest := d.pending
			d.pending = nil
			d.mu.Unlock()
			for _, r := range rest {
				r.replies <- reply{node: r.node, err: ErrClosed}
			}
			return
		case <-d.kick:
		}
		for {
			d.mu.Lock()
			batch := d.pending
			d.pending = nil
			d.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			d.send(batch)
		}
	}
}

// close stops the dispatcher after its current batch and answers what is
// still queued with ErrClosed.
func (d *dispatcher) close() {
	close(d.stop)
	<-d.done
}

// send runs one batch: drops requests whose round gave up, pipelines the
// rest, and hands out the replies.
func (d *dispatcher) send(batch []*request) {
	now := time.Now()
	live := batch[:0]
	deadline := now
	for _, r := range batch {
		switch {
		case r.ctx.Err() != nil:
			r.replies <- reply{node: r.node, err: r.ctx.Err()}
		case !now.Before(r.deadline):
			r.replies <- reply{node: r.node, err: ErrNodeTimeout}
		default:
			live = append(live, r)
			deadline = later(deadline, r.deadline)
		}
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cmds := d.exec(ctx, live)
	if hasNoScript(cmds) {
		// The node lost its script cache (restart, SCRIPT FLUSH): load the
		// scripts and send the whole batch again, in order. Usually nothing
		// ran; if another client loaded the scripts while this batch was
		// under way, part of it did, and runs twice: harmless, as every
		// script is idempotent for its caller (a second acquire by the same
		// owner refreshes, release and extend repeat), and resending in
		// order keeps a release after the acquisition it undoes.
		if err := loadScripts(ctx, d.node); err == nil {
			cmds = d.exec(ctx, live)
		}
	}
	for i, r := range live {
		val, err := r.op.decode(cmds[i])
		if err != nil && ctx.Err() == context.DeadlineExceeded {
			err = ErrNodeTimeout
		}
		r.replies <- reply{node: r.node, val: val, err: err}
	}
}

func (d *dispatcher) exec(ctx context.Context, batch []*request) []*redis.Cmd {
	pipe := d.node.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, r := range batch {
		cmds[i] = pipe.EvalSha(ctx, r.op.script.Hash(), r.op.keys, r.op.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	return cmds
}

func hasNoScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// loadScripts loads every script of the package into node's cache.
func loadScripts(ctx context.Context, node Node) error {
	pipe := node.Pipeline()
	for _, source := range scriptSources {
		pipe.ScriptLoad(ctx, source)
	}
	_, err := pipe.Exec(ctx)
	return err
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
