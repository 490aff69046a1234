package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/lease"
)

// consumer takes the queue's lease, processes up to batch messages (peek,
// record, pop), and releases it, until the queue is empty. With locks
// nil it skips the lease: the seed's broken baseline.
type consumer struct {
	name  string
	locks *lease.Client
	q     queue
	batch int
	work  time.Duration // simulated processing time per message
}

func (c consumer) run(ctx context.Context) error {
	for {
		empty, err := c.turn(ctx)
		if err != nil || empty {
			return err
		}
	}
}

// turn is one hold of the lease; it reports whether the queue was empty.
func (c consumer) turn(ctx context.Context) (empty bool, err error) {
	token := int64(0)
	if c.locks != nil {
		l, err := c.locks.Acquire(ctx, "queue/"+c.q.name, lease.WithWait(30*time.Second), lease.WithKeepAlive(0))
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.name, err)
		}
		defer l.Release(context.WithoutCancel(ctx))
		token = l.Token()
		ctx, cancel := l.Context(ctx)
		defer cancel()
		return c.consume(ctx, token)
	}
	return c.consume(ctx, token)
}

func (c consumer) consume(ctx context.Context, token int64) (empty bool, err error) {
	for range c.batch {
		seq, msg, ok, err := c.q.peek(ctx)
		if err != nil || !ok {
			return !ok, err
		}
		time.Sleep(c.work) // the work the message asks for
		outcome, err := c.q.process(ctx, token, seq, msg, c.name, c.locks == nil)
		switch {
		case err != nil:
			return false, err
		case outcome == stale:
			return false, errors.New(c.name + ": fenced out (stale token)")
		}
		if err := c.q.pop(ctx, msg); err != nil {
			return false, err
		}
	}
	return false, nil
}
