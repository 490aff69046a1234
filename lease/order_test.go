package lease_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// leakyNode is a real node whose first release batch (a script with one
// key) is held back: the sender gives up on it at its deadline, as after a
// timeout on a slow network, but the packets are still in flight and
// arrive later, after requests sent since on another connection. deliver
// lets them arrive.
type leakyNode struct {
	*redis.Client
	mu      sync.Mutex
	armed   bool
	held    [][]any
	caught  chan struct{} // closed when a batch is held
	deliver chan struct{}
	done    chan struct{} // closed once the held batch ran
}

// EvalSha goes through the node's pipeline too: the lease client sends
// a batch of one request this way.
func (n *leakyNode) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	p := n.Pipeline()
	c := p.EvalSha(ctx, sha, keys, args...)
	_, _ = p.Exec(ctx)
	return c
}

func (n *leakyNode) Pipeline() redis.Pipeliner {
	return leakyPipe{Pipeliner: n.Client.Pipeline(), node: n}
}

type leakyPipe struct {
	redis.Pipeliner
	node *leakyNode
}

func (p leakyPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	n := p.node
	n.mu.Lock()
	leak := n.armed && isRelease(p.Pipeliner.Cmds())
	if leak {
		n.armed = false
		for _, c := range p.Pipeliner.Cmds() {
			n.held = append(n.held, c.Args())
		}
	}
	n.mu.Unlock()
	if !leak {
		return p.Pipeliner.Exec(ctx)
	}
	close(n.caught)
	go func() { // the packets in flight
		defer close(n.done)
		<-n.deliver
		late := n.Client.Pipeline()
		for _, args := range n.held {
			late.Do(context.Background(), args...)
		}
		_, _ = late.Exec(context.Background())
	}()
	<-ctx.Done() // the sender times out
	return nil, ctx.Err()
}

// isRelease reports a batch of EVALSHA calls with release.lua's shape: two
// keys (lock, fence) and seven arguments.
func isRelease(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if a := c.Args(); len(a) == 12 && a[0] == "evalsha" && fmt.Sprint(a[2]) == "2" {
			return true
		}
	}
	return false
}

// A waiting Acquire undoes a failed attempt on the nodes that granted it.
// If that undo arrives late — after the next attempt was counted on the
// same node — it must not delete the lock the later attempt counts on:
// every attempt has its own owner value. (With one owner value for all
// attempts, the second attempt below would count node 2, which still holds
// the first attempt's value, and the late undo would then take node 2 from
// under it: a lease on one node of three, and a second owner possible.)
func TestLateUndoNeverDeletesALaterAttempt(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	leaky := &leakyNode{Client: cluster.Nodes[2].Client, armed: true,
		caught: make(chan struct{}), deliver: make(chan struct{}), done: make(chan struct{})}
	c, err := lease.New([]lease.Node{cluster.Nodes[0].Client, cluster.Nodes[1].Client, leaky}, lease.WithNodeTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// Held elsewhere for a moment: node 0 for 300 ms, node 1 for 1.5 s.
	for i, ttl := range []time.Duration{300 * time.Millisecond, 1500 * time.Millisecond} {
		if err := cluster.Nodes[i].Client.Set(ctx, lockKey("late"), "blocker", ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
	l, err := c.Acquire(ctx, "late", lease.WithWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leaky.caught:
	default:
		t.Fatal("the first attempt's undo never went to node 2")
	}
	close(leaky.deliver) // the first attempt's undo arrives now
	<-leaky.done
	if held := countOwner(lockValues(t, cluster, "late"), l.Owner()); held < c.Quorum() {
		t.Fatalf("after the late undo the lease holds %d nodes, fewer than a quorum: %q", held, lockValues(t, cluster, "late"))
	}
	other := clientOn(t, cluster)
	if _, err := other.Acquire(ctx, "late"); err == nil {
		t.Fatal("a second owner while the lease is valid")
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
