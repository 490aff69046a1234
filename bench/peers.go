package main

import (
	"context"
	"errors"
	"time"

	"github.com/go-redsync/redsync/v4"
	redsyncredis "github.com/go-redsync/redsync/v4/redis"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// release gives back a lock taken by a locker.
type release func(ctx context.Context) error

// locker is one way of taking an exclusive lock on key over the nodes. Each
// implementation makes one attempt per acquire.
type locker interface {
	name() string
	acquire(ctx context.Context, key string) (release, error)
}

// waiter is a locker that can also wait for a held lock: acquireWait
// returns when it holds key or ctx ends.
type waiter interface {
	locker
	acquireWait(ctx context.Context, key string) (release, error)
}

// settings shared by both peers, so they are configured alike.
type settings struct {
	ttl         time.Duration // lock TTL
	nodeTimeout time.Duration // bound of one request to one node
}

// redleasePeer is the lease package under test.
type redleasePeer struct {
	c    *lease.Client
	wait time.Duration // WithWait budget of acquireWait
}

func newRedlease(nodes []lease.Node, s settings, wait time.Duration) (*redleasePeer, error) {
	c, err := lease.New(nodes, lease.WithTTL(s.ttl), lease.WithNodeTimeout(s.nodeTimeout))
	if err != nil {
		return nil, err
	}
	return &redleasePeer{c: c, wait: wait}, nil
}

func (p *redleasePeer) name() string { return "redlease" }

func (p *redleasePeer) acquire(ctx context.Context, key string) (release, error) {
	l, err := p.c.Acquire(ctx, key)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

func (p *redleasePeer) acquireWait(ctx context.Context, key string) (release, error) {
	l, err := p.c.Acquire(ctx, key, lease.WithWait(p.wait))
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

func (p *redleasePeer) close() { _ = p.c.Close() }

// redsyncPeer is github.com/go-redsync/redsync/v4 over go-redis v9 pools, with
// its defaults except: expiry = TTL, the acquire round bounded by the node
// timeout (timeout factor), a single try for acquire and enough tries for
// acquireWait. Its retry delay stays the default random 50–250 ms.
type redsyncPeer struct {
	rs   *redsync.Redsync
	s    settings
	once []redsync.Option
	wait []redsync.Option
}

func newRedsync(clients []*redis.Client, s settings) *redsyncPeer {
	pools := make([]redsyncredis.Pool, len(clients))
	for i, c := range clients {
		pools[i] = goredis.NewPool(c)
	}
	base := []redsync.Option{
		redsync.WithExpiry(s.ttl),
		redsync.WithTimeoutFactor(float64(s.nodeTimeout) / float64(s.ttl)),
	}
	return &redsyncPeer{
		rs:   redsync.New(pools...),
		s:    s,
		once: append(base[:len(base):len(base)], redsync.WithTries(1)),
		wait: append(base[:len(base):len(base)], redsync.WithTries(1<<30)),
	}
}

func (p *redsyncPeer) name() string { return "redsync" }

func (p *redsyncPeer) acquire(ctx context.Context, key string) (release, error) {
	return p.lock(ctx, p.rs.NewMutex(key, p.once...))
}

func (p *redsyncPeer) acquireWait(ctx context.Context, key string) (release, error) {
	return p.lock(ctx, p.rs.NewMutex(key, p.wait...))
}

func (p *redsyncPeer) lock(ctx context.Context, m *redsync.Mutex) (release, error) {
	if err := m.LockContext(ctx); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return p.unlock(ctx, m) }, nil
}

// unlock bounds the release round by the node timeout, as redlease does.
func (p *redsyncPeer) unlock(ctx context.Context, m *redsync.Mutex) error {
	ctx, cancel := context.WithTimeout(ctx, p.s.nodeTimeout)
	defer cancel()
	ok, err := m.UnlockContext(ctx)
	if !ok && err == nil {
		err = errors.New("redsync: unlock not confirmed by a quorum")
	}
	return err
}
