package lease

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// waker delivers the "released" messages that Release publishes to the
// Acquire calls waiting for that resource, so a waiter tries again at once
// instead of at its next backoff step. It holds one Pub/Sub connection per
// node, shared by all waiters of the Client, subscribed to the channels of
// the resources that have waiters. It starts with the first waiter and
// stops with Client.Close.
//
// A release wakes only the first waiter in line for that resource (in
// this Client): one acquisition attempt per release instead of a herd, and
// first come, first served among this process's waiters. A waiter that
// fails keeps its place. A release by this Client may instead hand the
// lock to its first waiting Acquire (see handoff.go); such a release
// announces nothing.
//
// Wake-ups are best effort: a subscription is sent asynchronously and a
// node may be down, so a release can go unnoticed; backoff is the fallback.
type waker struct {
	mu      sync.Mutex
	closed  bool
	subs    []*nodeSubscription     // nil until the first waiter
	waiters map[string][]*waitEntry // per channel, in arrival order
	chain   map[string]int          // per channel: hand-offs since its last announced release
	running sync.WaitGroup
}

// waitEntry is one waiting call in a channel's line.
type waitEntry struct {
	// ch (capacity 1) receives a wake-up: nil, or a hand-off, an
	// acquisition already queued for this waiter that it must complete
	// (or abandon).
	ch chan *handoff
	// parked: the waiter is waiting for ch and nothing is in it, so a
	// release may hand it the lock. Only the sender of a value clears it.
	parked bool
	spec   *handoffSpec // nil: wake-ups only (a scope waiter)
}

// nodeSubscription is one node's Pub/Sub connection and the ordered queue
// of (un)subscribe requests its goroutine applies.
type nodeSubscription struct {
	pubsub  *redis.PubSub
	mu      sync.Mutex
	pending []subscriptionChange
	kick    chan struct{} // capacity 1: "pending has changes"
	stop    chan struct{}
	// ctx bounds every (un)subscribe; close cancels it, so a change stuck
	// dialling a blackholed node gives up at once.
	ctx    context.Context
	cancel context.CancelFunc
}

// subscriptionTimeout bounds one (un)subscribe call on a node: a node that
// does not take a subscription by then is skipped (wake-ups are best
// effort; the backoff still retries).
const subscriptionTimeout = time.Second

type subscriptionChange struct {
	channel   string
	subscribe bool
}

// watch puts a waiter in channel's line; spec (nil for none) says how a
// release may hand it the lock. The waiter must call leave when it stops
// waiting. queued reports whether a waiter that can receive hand-offs was
// already in line.
func (w *waker) watch(nodes []Node, channel string, spec *handoffSpec) (e *waitEntry, queued bool) {
	e = &waitEntry{ch: make(chan *handoff, 1), spec: spec}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return e, false
	}
	for _, o := range w.waiters[channel] {
		queued = queued || o.spec != nil
	}
	if w.subs == nil {
		w.start(nodes)
	}
	if len(w.waiters[channel]) == 0 {
		w.change(subscriptionChange{channel: channel, subscribe: true})
	}
	w.waiters[channel] = append(w.waiters[channel], e)
	return e, queued
}

// park marks e as waiting for its channel with nothing pending.
func (w *waker) park(e *waitEntry) {
	w.mu.Lock()
	e.parked = len(e.ch) == 0
	w.mu.Unlock()
}

// unpark ends e's wait without a wake-up; it returns a hand-off that
// arrived meanwhile, which the caller must complete or abandon.
func (w *waker) unpark(e *waitEntry) *handoff {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.parked = false
	select {
	case h := <-e.ch:
		return h
	default:
		return nil
	}
}

// leave takes e out of channel's line. A wake-up e did not use passes to
// the next waiter when e was first; a hand-off e did not use is returned,
// and the caller must abandon it.
func (w *waker) leave(channel string, e *waitEntry) *handoff {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.parked = false
	var h *handoff
	woken := false
	select {
	case h = <-e.ch:
		woken = h == nil
	default:
	}
	line := w.waiters[channel]
	for i, c := range line {
		if c != e {
			continue
		}
		line = append(line[:i], line[i+1:]...)
		if i == 0 && woken && len(line) > 0 {
			w.wake(line[0]) // e leaves with a wake-up it did not use: pass it on
		}
		break
	}
	if len(line) > 0 {
		w.waiters[channel] = line
		return h
	}
	delete(w.waiters, channel)
	if !w.closed && w.subs != nil {
		w.change(subscriptionChange{channel: channel})
	}
	return h
}

// wake gives e a wake-up unless one is pending; w.mu is held.
func (w *waker) wake(e *waitEntry) {
	select {
	case e.ch <- nil:
		e.parked = false
	default:
	}
}

// start opens the per-node subscriptions; w.mu is held.
func (w *waker) start(nodes []Node) {
	w.waiters = make(map[string][]*waitEntry)
	w.chain = make(map[string]int)
	for _, node := range nodes {
		s := &nodeSubscription{
			pubsub: node.Subscribe(context.Background()),
			kick:   make(chan struct{}, 1),
			stop:   make(chan struct{}),
		}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		w.subs = append(w.subs, s)
		w.running.Add(1)
		go w.run(s)
	}
}

// change queues a subscription change on every node; w.mu is held.
func (w *waker) change(c subscriptionChange) {
	for _, s := range w.subs {
		s.mu.Lock()
		s.pending = append(s.pending, c)
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// run is a node's goroutine: it applies subscription changes in order and
// hands messages to the waiters, until close.
func (w *waker) run(s *nodeSubscription) {
	defer w.running.Done()
	defer s.pubsub.Close()
	messages := s.pubsub.Channel()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
			s.mu.Lock()
			changes := s.pending
			s.pending = nil
			s.mu.Unlock()
			for _, c := range changes {
				if s.ctx.Err() != nil {
					return // closing: the rest need not go out
				}
				s.apply(c)
			}
		case msg, ok := <-messages:
			if !ok {
				return
			}
			w.notify(msg.Channel)
		}
	}
}

// apply sends one (un)subscribe, bounded by subscriptionTimeout and by
// close. An error (node down) is not fatal: go-redis resubscribes the
// channels it records when it reconnects.
func (s *nodeSubscription) apply(c subscriptionChange) {
	ctx, cancel := context.WithTimeout(s.ctx, subscriptionTimeout)
	defer cancel()
	if c.subscribe {
		_ = s.pubsub.Subscribe(ctx, c.channel)
	} else {
		_ = s.pubsub.Unsubscribe(ctx, c.channel)
	}
}

// announced records that this Client announced a release of channel (one
// not handed on): the count of hand-offs in a row starts again.
func (w *waker) announced(channel string) {
	w.mu.Lock()
	delete(w.chain, channel)
	w.mu.Unlock()
}

// notify wakes the first waiter in line for channel.
func (w *waker) notify(channel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if line := w.waiters[channel]; len(line) > 0 {
		w.wake(line[0])
	}
}

// close stops every node goroutine and waits for them. A goroutine in the
// middle of a subscription change stops it (its context is cancelled) and
// skips the changes still queued, so close waits for at most one change
// per node: at most subscriptionTimeout, and in practice at once for a
// dial, which honours the cancellation.
func (w *waker) close() {
	w.mu.Lock()
	w.closed = true
	subs := w.subs
	w.mu.Unlock()
	for _, s := range subs {
		s.cancel()
		close(s.stop)
	}
	w.running.Wait()
}
