package lease

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/internal/script"
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
	// final marks a release: Close still sends it when it is queued, so a
	// lock is not left behind for its TTL (see dispatcher.close).
	final bool
}

// dispatcher owns the requests to one node. It sends whatever is queued as
// one pipeline, waits for the replies, then sends the next batch, so that
// on one connection requests reach a node in the order they were queued.
// Many concurrent operations share one round trip per batch.
//
// The order holds only while batches share a connection. When a batch
// times out, go-redis drops its connection and the next batch goes out on
// another one while the old packets may still be in flight, so a later
// request can overtake an earlier one. The protocol does not depend on the
// order for safety: every acquisition attempt has its own owner value, so
// an undo or release that arrives early deletes nothing of anyone else's,
// and the acquisition it overtook leaves a lock that nobody extends, which
// blocks that node until its TTL ends.
type dispatcher struct {
	node  Node
	index int

	mu      sync.Mutex
	pending []*request
	spare   []*request    // run's last batch, emptied: the next pending (no allocation per batch)
	sending bool          // a batch is under way, sent by run or by a caller (see claim)
	one     [1]*redis.Cmd // the reply of a batch of one (see exec): one sender at a time
	stopped bool
	kick    chan struct{} // capacity 1: pending is not empty
	stop    chan struct{}
	done    chan struct{}
}

// maxSpare bounds the batch slice a dispatcher keeps for reuse, so a burst
// does not pin a large array.
const maxSpare = 1024

func newDispatcher(node Node, index int) *dispatcher {
	d := &dispatcher{node: node, index: index, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// enqueue queues rs in order, or answers each with ErrClosed at once after
// close.
func (d *dispatcher) enqueue(rs ...*request) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		for _, r := range rs {
			r.replies <- reply{node: r.node, err: ErrClosed}
		}
		return
	}
	d.pending = append(d.pending, rs...)
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
			d.drain()
			return
		case <-d.kick:
		}
		for {
			select {
			case <-d.stop:
				d.drain()
				return
			default:
			}
			d.mu.Lock()
			if d.sending || len(d.pending) == 0 {
				d.mu.Unlock() // a caller's batch is under way: it kicks when done
				break
			}
			batch := d.pending
			d.pending = d.spare
			d.spare = nil
			d.sending = true
			d.mu.Unlock()
			d.send(batch)
			clear(batch) // no request outlives its batch here
			d.mu.Lock()
			d.sending = false
			if d.spare == nil && cap(batch) <= maxSpare {
				d.spare = batch[:0]
			}
			d.mu.Unlock()
		}
	}
}

// claim lets a caller send its own requests from its goroutine, sparing
// the wake-ups of the hand-off to run and back: it succeeds when nothing is
// queued or under way, and the caller must then send and call unclaim.
// Requests still go out one batch at a time and in order: while a caller
// sends, others queue and run sends them after it.
func (d *dispatcher) claim() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || d.sending || len(d.pending) > 0 {
		return false
	}
	d.sending = true
	return true
}

// unclaim ends a caller's batch and hands what was queued meanwhile to run.
func (d *dispatcher) unclaim() {
	d.mu.Lock()
	d.sending = false
	more := len(d.pending) > 0
	d.mu.Unlock()
	if more {
		select {
		case d.kick <- struct{}{}:
		default:
		}
	}
}

// drain runs at close: it stops queueing, answers queued acquisitions and
// extensions with ErrClosed, and sends the queued releases (and undos of
// failed acquisitions) as one last batch, bounded by their node timeout,
// so that Close does not leave those locks behind for their TTL.
func (d *dispatcher) drain() {
	d.mu.Lock()
	d.stopped = true
	rest := d.pending
	d.pending = nil
	d.mu.Unlock()
	var releases []*request
	for _, r := range rest {
		if r.op.final {
			releases = append(releases, r)
		} else {
			r.replies <- reply{node: r.node, err: ErrClosed}
		}
	}
	if len(releases) > 0 {
		d.send(releases)
	}
}

// close stops the dispatcher after its current batch and the queued
// releases, and answers the rest with ErrClosed.
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
		if err != nil && (ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded)) {
			err = ErrNodeTimeout // the batch's deadline: the socket's may fire before the context's timer
		}
		r.replies <- reply{node: r.node, val: val, err: err}
	}
}

func (d *dispatcher) exec(ctx context.Context, batch []*request) []*redis.Cmd {
	if len(batch) == 1 { // no pipeline to build for one request
		r := batch[0]
		d.one[0] = d.node.EvalSha(ctx, r.op.script.Hash(), r.op.keys, r.op.args...)
		return d.one[:]
	}
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
	for _, src := range script.Sources {
		pipe.ScriptLoad(ctx, src)
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
