package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bsm/redislock"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/redis/rueidis/rueidislock"
)

// redislockPeer is github.com/bsm/redislock: a lock on one Redis node
// (it has no quorum), over the same go-redis client as the other peers.
// acquire makes one attempt; acquireWait retries every millisecond until
// ctx ends, the fastest retry a user would set.
type redislockPeer struct {
	c *redislock.Client
	s settings
}

func newRedislock(client *redis.Client, s settings) *redislockPeer {
	return &redislockPeer{c: redislock.New(client), s: s}
}

func (p *redislockPeer) name() string { return "bsm/redislock" }

func (p *redislockPeer) acquire(ctx context.Context, key string) (release, error) {
	return p.obtain(ctx, key, nil)
}

func (p *redislockPeer) acquireWait(ctx context.Context, key string) (release, error) {
	return p.obtain(ctx, key, &redislock.Options{RetryStrategy: redislock.LinearBackoff(time.Millisecond)})
}

func (p *redislockPeer) obtain(ctx context.Context, key string, opt *redislock.Options) (release, error) {
	l, err := p.c.Obtain(ctx, key, p.s.ttl, opt)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, p.s.nodeTimeout)
		defer cancel()
		return l.Release(ctx)
	}, nil
}

// rueidislockPeer is github.com/redis/rueidis/rueidislock on one node with
// KeyMajority 1: it spreads a lock over KeyMajority·2−1 keys of one Redis
// (or cluster), never over independent nodes, so five nodes are not a
// shape it has. It has its own client (rueidis, RESP3 with client-side
// caching, which it uses to wake waiters).
type rueidislockPeer struct {
	l rueidislock.Locker
}

func newRueidislock(addr string, s settings) (*rueidislockPeer, error) {
	l, err := rueidislock.NewLocker(rueidislock.LockerOption{
		ClientOption: rueidis.ClientOption{InitAddress: []string{addr}, ConnWriteTimeout: s.nodeTimeout},
		KeyMajority:  1,
		KeyValidity:  s.ttl,
	})
	if err != nil {
		return nil, fmt.Errorf("rueidislock: %w", err)
	}
	return &rueidislockPeer{l: l}, nil
}

func (p *rueidislockPeer) name() string { return "rueidislock (1 node, KeyMajority 1)" }

func (p *rueidislockPeer) acquire(ctx context.Context, key string) (release, error) {
	_, cancel, err := p.l.TryWithContext(ctx, key)
	return cancelRelease(cancel), err
}

func (p *rueidislockPeer) acquireWait(ctx context.Context, key string) (release, error) {
	_, cancel, err := p.l.WithContext(ctx, key)
	return cancelRelease(cancel), err
}

// cancelRelease releases a rueidislock lock: cancelling its context
// deletes the key (in the background; the next acquisition may wait for it).
func cancelRelease(cancel context.CancelFunc) release {
	if cancel == nil {
		return nil
	}
	return func(context.Context) error { cancel(); return nil }
}

func (p *rueidislockPeer) close() { p.l.Close() }
