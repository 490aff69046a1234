package lease_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// gatedNode is a real node whose pipelines, once armed, wait at a gate
// before they go out: a network that delays one batch and not the next.
// (Requests to one node keep their order, so only a delay between two
// batches can make a later Extend finish before an earlier one.)
type gatedNode struct {
	*redis.Client
	armed   atomic.Bool
	waiting atomic.Int32
	open    chan struct{} // one value lets one batch through
}

// EvalSha goes through the node's pipeline too: the lease client sends
// a batch of one request this way.
func (n *gatedNode) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	p := n.Pipeline()
	c := p.EvalSha(ctx, sha, keys, args...)
	_, _ = p.Exec(ctx)
	return c
}

func (n *gatedNode) Pipeline() redis.Pipeliner {
	return gatedPipe{Pipeliner: n.Client.Pipeline(), node: n}
}

type gatedPipe struct {
	redis.Pipeliner
	node *gatedNode
}

func (p gatedPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	if p.node.armed.Load() {
		p.node.waiting.Add(1)
		select {
		case <-p.node.open:
		case <-ctx.Done():
		}
		p.node.waiting.Add(-1)
	}
	return p.Pipeliner.Exec(ctx)
}

// Two concurrent Extend calls: B starts first, A while B is under way. B
// completes before the old deadline; A's confirmations arrive after it. A
// must succeed on B's deadline instead of declaring the lease lost.
func TestConcurrentExtendDoesNotLoseALiveLease(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	gated := []*gatedNode{{Client: cluster.Nodes[1].Client, open: make(chan struct{})}, {Client: cluster.Nodes[2].Client, open: make(chan struct{})}}
	c, err := lease.New([]lease.Node{cluster.Nodes[0].Client, gated[0], gated[1]},
		lease.WithNodeTimeout(400*time.Millisecond), lease.WithTTL(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	l := mustAcquire(t, c, "concurrent")
	deadline := l.ValidUntil()

	waitUntil(t, 3*time.Second, "shortly before the deadline", func() bool { return time.Until(deadline) < 150*time.Millisecond })
	for _, g := range gated {
		g.armed.Store(true)
	}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(1)
	go func() { defer wg.Done(); errB = l.Extend(ctx) }()
	waitUntil(t, time.Second, "B's batch held at both gates", func() bool { return gated[0].waiting.Load() == 1 && gated[1].waiting.Load() == 1 })
	doneA := make(chan struct{})
	go func() { defer close(doneA); errA = l.Extend(ctx) }()
	time.Sleep(10 * time.Millisecond) // let A's requests queue behind B's batch
	for _, g := range gated {
		g.open <- struct{}{} // B's batch goes out
	}
	wg.Wait()
	if errB != nil {
		t.Fatalf("B: %v", errB)
	}
	waitUntil(t, time.Second, "A's batch held at both gates", func() bool { return gated[0].waiting.Load() == 1 && gated[1].waiting.Load() == 1 })
	waitUntil(t, time.Second, "the old deadline passes", func() bool { return time.Now().After(deadline.Add(5 * time.Millisecond)) })
	for _, g := range gated {
		g.armed.Store(false)
		g.open <- struct{}{} // A's batch goes out, after the old deadline
	}
	<-doneA
	if errA != nil || l.Err() != nil || !l.Valid() {
		t.Fatalf("A: %v; lease err %v, valid %v: a live lease marked lost", errA, l.Err(), l.Valid())
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
