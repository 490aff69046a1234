package lease

import (
	"context"
	"fmt"
	"github.com/redlease/redlease/internal/faultseam"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Node is the part of a go-redis client that the lease Client uses:
// pipelined scripts, and Subscribe for wake-ups. *redis.Client satisfies it.
type Node interface {
	redis.Scripter
	Pipeline() redis.Pipeliner
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// Client runs Redlock over N independent Redis nodes: an operation succeeds
// when a quorum of N/2+1 nodes agrees. The nodes must be independent,
// standalone masters (not replicas of one another, not one Redis Cluster,
// not nodes of a Redis Cluster), otherwise the quorum proves nothing.
//
// A Client is safe for concurrent use. It does not own the node clients:
// Close waits for its in-flight requests but does not close them.
type Client struct {
	nodes  []Node
	addrs  []string
	quorum int
	cfg    config
	obs    *observer

	all         []int         // 0..N-1
	guardArgs   [3]any        // the acquire script's guard arguments, boxed once
	ttlArg      any           // the Client's TTL in milliseconds, boxed once
	dispatchers []*dispatcher // one per node: requests go out pipelined, in order
	// direct: callers may send their own requests (see post). Only with a
	// single node, whose reply is the outcome, so waiting for it is what the
	// round does anyway; and only when its client ends every request by the
	// deadline of its context, so the caller still waits one node timeout
	// at most.
	direct      bool
	directSends atomic.Int64 // batches callers sent themselves

	mu     sync.RWMutex // guards closed against enqueueing after Close
	closed bool
	// inflight is held for reading by every operation while it talks to
	// the nodes (an acquisition with its undo, an extension, a release),
	// and for writing by Close, so Close waits for them: an undo or
	// release an operation sends goes out before the dispatchers stop.
	inflight  sync.RWMutex
	waker     waker
	handoffs  atomic.Int64 // releases that handed the lock on (see handoff.go)
	abandoned atomic.Int64 // hand-offs whose waiter had stopped waiting
}

// New returns a Client over nodes. The list must hold an odd number of
// distinct, non-nil nodes, and the TTL must fit the restart guard (see
// WithRestartGuard); bad input returns an *InvalidInputError.
func New(nodes []Node, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("option", "nil Option")
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.checkTTL("ttl", cfg.ttl); err != nil {
		return nil, err
	}
	addrs, err := checkNodes(nodes)
	if err != nil {
		return nil, err
	}
	quorum := len(nodes)/2 + 1
	obs, err := newObserver(cfg, len(nodes), quorum)
	if err != nil {
		return nil, fmt.Errorf("lease: create metrics instruments: %w", err)
	}
	c := &Client{
		nodes:  append([]Node(nil), nodes...),
		addrs:  addrs,
		quorum: quorum,
		cfg:    cfg,
		obs:    obs,
	}
	guardMs, windowMs := cfg.guard.Milliseconds(), cfg.guardWindow().Milliseconds()
	if faultseam.Broken("guard") { // the fault suite's broken build: see internal/faultseam
		windowMs = 0
	}
	c.ttlArg = cfg.ttl.Milliseconds()
	c.guardArgs = [3]any{guardMs, windowMs, fmt.Sprintf("%d:%d:", guardMs, windowMs)}
	c.direct = len(nodes) == 1 && boundedByContext(nodes[0])
	for i, node := range c.nodes {
		c.all = append(c.all, i)
		c.dispatchers = append(c.dispatchers, newDispatcher(node, i))
	}
	return c, nil
}

// Quorum is the number of nodes that must agree: N/2+1.
func (c *Client) Quorum() int { return c.quorum }

// Nodes is the number of nodes N.
func (c *Client) Nodes() int { return len(c.nodes) }

// Close stops new operations (they return ErrClosed, and a Release called
// after Close sends nothing: its locks expire by their TTL). It first waits
// for the operations in flight — each bounded by a few node timeouts — so
// an acquisition that fails meanwhile still undoes what it took and an
// extension that finds its lease lost still sends its release. Then it
// waits for the batches being sent to finish, sends the releases queued
// (Release, ReleaseOwner, ReleaseHolder and the undo of a failed
// acquisition that were called before Close) as one last batch per node,
// and answers the other queued requests (acquisitions, extensions) with
// ErrClosed. Each of those waits is bounded by the node timeout (or the node
// client's own read timeout when it was not created with
// ContextTimeoutEnabled). Then it closes the Pub/Sub connections that wake
// waiters, waiting at most one subscription change per node, itself
// bounded (see waker.close). It stops the
// goroutines the Client owns: one dispatcher per node, and the waker's.
// The node clients stay open. Close is idempotent.
func (c *Client) Close() error {
	c.inflight.Lock() // operations in flight finish first (each is bounded by node timeouts)
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	c.inflight.Unlock()
	if already {
		return nil
	}
	for _, d := range c.dispatchers {
		d.close()
	}
	c.waker.close()
	return nil
}

// boundedByContext reports whether node's client ends each request by the
// deadline of its context (go-redis's ContextTimeoutEnabled).
func boundedByContext(node Node) bool {
	o, ok := node.(interface{ Options() *redis.Options })
	return ok && o.Options() != nil && o.Options().ContextTimeoutEnabled
}

func checkNodes(nodes []Node) ([]string, error) {
	n := len(nodes)
	switch {
	case n == 0:
		return nil, invalid("nodes", "empty list")
	case n%2 == 0:
		return nil, invalid("nodes", "%d nodes: use an odd number, an even one adds a node without adding tolerance", n)
	}
	// One server with several databases is still one server: a quorum of
	// its databases would prove nothing.
	type endpoint struct {
		network, addr string
	}
	addrs := make([]string, n)
	seen := make(map[endpoint]int, n)
	for i, node := range nodes {
		if node == nil || (reflect.ValueOf(node).Kind() == reflect.Pointer && reflect.ValueOf(node).IsNil()) {
			return nil, invalid("nodes", "node %d is nil", i)
		}
		for j := 0; j < i; j++ {
			if sameValue(nodes[j], node) {
				return nil, invalid("nodes", "node %d is node %d again", i, j)
			}
		}
		o, ok := node.(interface{ Options() *redis.Options })
		if !ok || o.Options() == nil {
			continue
		}
		opt := o.Options()
		addrs[i] = opt.Addr
		ep := endpoint{opt.Network, opt.Addr}
		if j, dup := seen[ep]; dup && opt.Addr != "" {
			return nil, invalid("nodes", "node %d is on the same server as node %d (%s): nodes must be independent servers", i, j, opt.Addr)
		}
		seen[ep] = i
	}
	return addrs, nil
}

func sameValue(a, b Node) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

func checkResource(resource string) error {
	switch {
	case resource == "":
		return invalid("resource", "empty name")
	case len(resource) > MaxResourceLen:
		return invalid("resource", "%d bytes, more than %d", len(resource), MaxResourceLen)
	case !utf8.ValidString(resource):
		return invalid("resource", "not valid UTF-8")
	case strings.ContainsAny(resource, "{}"):
		return invalid("resource", "%q contains '{' or '}', which would break the keys' hash tag", resource)
	}
	return nil
}
