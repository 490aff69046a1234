package main

import (
	"context"
	"errors"
	"sync"
)

// queuedRedlease is a bench-side prototype, not part of the comparison:
// redlease with an in-process queue per key, so that at most one goroutine
// of this process waits in Acquire for a given key at a time. It shows what
// waking one local waiter per release, instead of all of them, would give.
type queuedRedlease struct {
	*redleasePeer
	mu     sync.Mutex
	queues map[string]chan struct{} // capacity 1: the right to wait on the key
}

func newQueuedRedlease(p *redleasePeer) *queuedRedlease {
	return &queuedRedlease{redleasePeer: p, queues: map[string]chan struct{}{}}
}

func (q *queuedRedlease) name() string { return "redlease+local queue" }

func (q *queuedRedlease) acquireWait(ctx context.Context, key string) (release, error) {
	q.mu.Lock()
	turn, ok := q.queues[key]
	if !ok {
		turn = make(chan struct{}, 1)
		q.queues[key] = turn
	}
	q.mu.Unlock()
	select {
	case turn <- struct{}{}:
	case <-ctx.Done():
		return nil, errors.Join(errors.New("queued: gave up waiting for the turn"), ctx.Err())
	}
	defer func() { <-turn }()
	return q.redleasePeer.acquireWait(ctx, key)
}
