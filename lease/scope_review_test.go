package lease_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// partitioned is a lease.Client (another worker process) over cluster's
// nodes that cannot reach the nodes in cut: their connection is refused,
// as in a network partition between this worker and those nodes. No node
// loses data; the other clients reach every node.
func partitioned(t *testing.T, cluster *leasetest.Cluster, cut []int, opts ...lease.Option) *lease.Client {
	t.Helper()
	nodes := cluster.LeaseNodes()
	for _, i := range cut {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr().String()
		l.Close() // nothing listens there any more: connection refused
		rc := redis.NewClient(&redis.Options{Addr: dead, DialTimeout: 50 * time.Millisecond, MaxRetries: -1, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rc.Close() })
		nodes[i] = rc
	}
	opts = append([]lease.Option{lease.WithNodeTimeout(150 * time.Millisecond)}, opts...)
	c, err := lease.New(nodes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Regression (adversarial review, hole 1): ScopeFirst outvotes a node's proof that another holder held the
// resource since the scope acquired it. activities.acquireHeartbeating
// passes ScopeFirst whenever info.Token == 0: every AcquireLease attempt,
// and with AcquireInSection every attempt of every section. No node
// loses data here; two workers each miss one node.
func TestFirstAcquisitionNeverOutvotesProofOfLoss(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	ttl := lease.WithTTL(500 * time.Millisecond)
	nt := lease.WithNodeTimeout(150 * time.Millisecond)
	worker1 := partitioned(t, cluster, []int{2}, ttl) // section attempt 1: cannot reach node 2
	other := partitioned(t, cluster, []int{1}, ttl)   // another holder: cannot reach node 1
	worker2 := clientOn(t, cluster, ttl, nt)          // section attempt 2 (Temporal retry): reaches all
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)

	g1, err := worker1.AcquireScope(ctx, "job", owner, lease.ScopeFirst()) // nodes 0, 1
	if err != nil {
		t.Fatalf("attempt 1: %v", err)
	}
	if err := worker1.SaveProgress(ctx, "job", owner, g1.Token, "section-1", 1, []byte("step 1 done")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // worker1 and the keeper are gone; the lock expires

	b, err := other.Acquire(ctx, "job") // nodes 0, 2: the counter on node 0 moves
	if err != nil {
		t.Fatalf("other holder: %v", err)
	}
	t.Logf("another holder held the resource, token %d", b.Token())
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}

	g2, err := worker2.AcquireScope(ctx, "job", owner, lease.ScopeFirst()) // as attempt 2 does
	if err == nil {
		data, _, _ := worker2.LoadProgress(ctx, "job", owner, "section-1")
		t.Fatalf("scope continued after another holder held the resource: token %d, resumes progress %q; locks %q",
			g2.Token, data, lockValues(t, cluster, "job"))
	}
	if !errors.Is(err, lease.ErrLost) {
		t.Fatalf("want ErrLost, got %v", err)
	}
}

// Regression (adversarial review, hole 1b): after ReleaseScope succeeded, a late attempt
// with ScopeFirst (a zombie AcquireLease attempt, any AcquireInSection
// section attempt) takes the lock again when one node missed the release
// and ONE other node restarted empty — not the majority the docs name.
func TestReleasedScopeStaysReleasedAfterOneNodeRestart(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	opts := []lease.Option{lease.WithTTL(500 * time.Millisecond), lease.WithNodeTimeout(150 * time.Millisecond), lease.WithRestartGuard(600 * time.Millisecond)}
	c := clientOn(t, cluster, opts...)
	releaser := partitioned(t, cluster, []int{2}, opts...) // the release's worker cannot reach node 2
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)

	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	if err := releaser.ReleaseScope(ctx, "job", holder, lease.NewEpoch(200, 1), 0); err != nil {
		t.Fatalf("release: %v", err) // quorum: nodes 0 and 1
	}
	if err := cluster.Nodes[0].Restart(ctx); err != nil { // one node loses its data
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()) // the late attempt
		if err == nil {
			t.Fatalf("released scope took the lock again (token %d): locks %q", g.Token, lockValues(t, cluster, "job"))
		}
		if errors.Is(err, lease.ErrLost) || time.Now().After(deadline) {
			t.Logf("refused: %v", err)
			return
		}
		time.Sleep(50 * time.Millisecond) // node 0 is guarded: retryable
	}
}

// Regression (adversarial review, hole 2): a save that SaveProgress refused (ErrSuperseded: the attempt was
// fenced out) is what the next LoadProgress returns. The newer attempt's
// worker cannot reach node 2, so node 2 still has the old token as its
// counter; LoadProgress takes the highest (token, seq) of any single node.
func TestRefusedZombieSaveIsNotLoaded(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	a1 := clientOn(t, cluster)              // attempt 1, frozen worker that wakes up later
	a2 := partitioned(t, cluster, []int{2}) // attempt 2: cannot reach node 2
	a3 := clientOn(t, cluster)              // attempt 3: reaches every node
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)

	g1, err := a1.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	for seq := uint64(1); seq <= 3; seq++ {
		if err := a1.SaveProgress(ctx, "job", owner, g1.Token, "s", seq, []byte{byte('0' + seq)}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 2*time.Second, "seq 3 on node 2", func() bool {
		v, _ := cluster.Nodes[2].Client.HGet(ctx, "redlease:{job}:progress:"+holder, "s").Result()
		return len(v) > 0 && v[len(v)-1] == '3'
	})
	g2, err := a2.AcquireScope(ctx, "job", owner) // fences attempt 1 out on nodes 0 and 1
	if err != nil {
		t.Fatal(err)
	}
	// the zombie wakes up and saves: refused as superseded ...
	err = a1.SaveProgress(ctx, "job", owner, g1.Token, "s", 4, []byte("zombie"))
	if !errors.Is(err, lease.ErrSuperseded) {
		t.Fatalf("zombie save: %v, want ErrSuperseded", err)
	}
	// ... yet attempt 2 (and any later attempt) resumes from it.
	time.Sleep(100 * time.Millisecond)
	data, _, err := a3.LoadProgress(ctx, "job", owner, "s")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "3" {
		t.Fatalf("attempt 3 (after attempt 2 took token %d > %d) loads %q: the refused save of the fenced-out attempt; want %q", g2.Token, g1.Token, data, "3")
	}
}

// Regression (adversarial review, hole 3): a tombstone planted on a free node by a holder that never held
// it (another workflow's cleanup release after its acquisition failed, or
// an earlier scope of the same holder released late) is taken as proof of
// loss: a scope whose lock merely expired (keeper gap) is lost for good
// although nobody else held the resource.
func TestTombstoneWithoutAGrantIsNoLoss(t *testing.T) {
	for _, tc := range []struct {
		name, holder string
	}{{"other holder that never acquired", "ns/other/run/default"}, {"earlier scope of the same holder", "ns/wf/run/default"}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c, cluster := newClient(t, 3, lease.WithTTL(500*time.Millisecond), lease.WithNodeTimeout(150*time.Millisecond))
			owner := scopeOwner(t, "ns/wf/run/default", 300)
			if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(600 * time.Millisecond) // keeper gap: the lock expires, nobody takes it
			if err := c.ReleaseScope(ctx, "job", tc.holder, lease.NewEpoch(200, 1), 0); err != nil {
				t.Fatal(err)
			}
			t.Logf("locks after the unrelated release: %q, counters %v", lockValues(t, cluster, "job"), fences(t, cluster, "job"))
			if _, err := c.KeepScope(ctx, "job", owner, 500*time.Millisecond, true); err != nil {
				t.Errorf("keep after an expiry nobody used: %v", err)
			}
			if _, err := c.AcquireScope(ctx, "job", owner); err != nil {
				t.Errorf("resume after an expiry nobody used: %v", err)
			}
		})
	}
}

// stepNode is a node link whose k-th pipeline Exec waits for gates[k]
// (nil or past the end: no wait): a slow network path, under test control.
type stepNode struct {
	*redis.Client
	mu    sync.Mutex
	gates []chan struct{}
	n     int
}

// EvalSha goes through the node's pipeline too: the lease client sends
// a batch of one request this way.
func (n *stepNode) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	p := n.Pipeline()
	c := p.EvalSha(ctx, sha, keys, args...)
	_, _ = p.Exec(ctx)
	return c
}

func (g *stepNode) Pipeline() redis.Pipeliner { return stepPipe{g.Client.Pipeline(), g} }

type stepPipe struct {
	redis.Pipeliner
	g *stepNode
}

func (p stepPipe) Exec(ctx context.Context) ([]redis.Cmder, error) {
	p.g.mu.Lock()
	var gate chan struct{}
	if p.g.n < len(p.g.gates) {
		gate = p.g.gates[p.g.n]
	}
	p.g.n++
	p.g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return p.Pipeliner.Exec(ctx)
}

// gatedClient is a lease.Client whose link to node i is gated by gates[i]
// (a nil entry: a plain link) and that cannot reach the nodes in cut.
func gatedClient(t *testing.T, cluster *leasetest.Cluster, gates map[int][]chan struct{}, cut []int, opts ...lease.Option) *lease.Client {
	t.Helper()
	base := partitionedNodes(t, cluster, cut)
	nodes := make([]lease.Node, len(base))
	for i, n := range base {
		nodes[i] = n
		if g, ok := gates[i]; ok {
			nodes[i] = &stepNode{Client: n.(*redis.Client), gates: g}
		}
	}
	c, err := lease.New(nodes, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func partitionedNodes(t *testing.T, cluster *leasetest.Cluster, cut []int) []lease.Node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	nodes := cluster.LeaseNodes()
	for _, i := range cut {
		rc := redis.NewClient(&redis.Options{Addr: dead, DialTimeout: 50 * time.Millisecond, MaxRetries: -1, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rc.Close() })
		nodes[i] = rc
	}
	return nodes
}

// Regression (adversarial review, hole 4): two racing attempts of one
// scope, both holding every node (they share the owner value), could get
// the same token when the counters were above the fence floor (each node
// handing them counter+1 and counter+2 in opposite orders), and both
// passed the progress fence. With distinct attempt epochs (ScopeAttempt,
// as every Temporal attempt has), a node that gave the later attempt a
// token refuses the earlier one, which then cannot make a quorum.
// Counters set 5 s ahead stand for a worker whose clock is ahead.
func TestRacingAttemptsNeverShareAToken(t *testing.T) {
	ctx := context.Background()
	cluster := leasetest.Start(t, 3)
	opts := []lease.Option{lease.WithTTL(10 * time.Second), lease.WithNodeTimeout(2 * time.Second)}
	a1 := clientOn(t, cluster, opts...)
	const holder = "ns/wf/run/default"
	owner := scopeOwner(t, holder, 100)
	if _, err := a1.AcquireScope(ctx, "job", owner, lease.ScopeFirst()); err != nil {
		t.Fatal(err)
	}
	settledValues(t, cluster, "job", owner)
	ahead := time.Now().Add(5 * time.Second).UnixMicro() // a counter set by a worker 5 s ahead
	for _, n := range cluster.Nodes {
		n.Client.Set(ctx, fenceKey("job"), ahead, 0)
		n.Client.Set(ctx, "redlease:{job}:scope:"+holder, fmt.Sprintf("%d|%s|%s", ahead, lease.NewEpoch(1, 1), owner), time.Hour)
	}
	a2first, a2raise, a3first := make(chan struct{}), make(chan struct{}), make(chan struct{})
	// attempt 2 (delayed on the network) and attempt 3 (the retry); neither reaches node 2
	a2 := gatedClient(t, cluster, map[int][]chan struct{}{0: {nil, a2raise}, 1: {a2first}}, []int{2}, opts...)
	a3 := gatedClient(t, cluster, map[int][]chan struct{}{0: {a3first}}, []int{2}, opts...)
	type res struct {
		g   lease.ScopeGrant
		err error
	}
	r2, r3 := make(chan res, 1), make(chan res, 1)
	counter := func(i int) int64 { return fences(t, cluster, "job")[i] }

	go func() {
		g, err := a2.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(1, 2)))
		r2 <- res{g, err}
	}()
	waitUntil(t, time.Second, "attempt 2 on node 0", func() bool { return counter(0) == ahead+1 })
	go func() {
		g, err := a3.AcquireScope(ctx, "job", owner, lease.ScopeAttempt(lease.NewEpoch(1, 3)))
		r3 <- res{g, err}
	}()
	waitUntil(t, time.Second, "attempt 3 on node 1", func() bool { return counter(1) == ahead+1 })
	// Attempt 2 reaches node 1 after attempt 3 took a token there: the
	// node refuses the earlier attempt, which can no longer get a quorum.
	close(a2first)
	g2 := <-r2
	close(a3first)
	g3 := <-r3
	close(a2raise)
	if !errors.Is(g2.err, lease.ErrSuperseded) || g3.err != nil {
		t.Fatalf("attempts: 2 → %v (want ErrSuperseded), 3 → %v (want a grant)", g2.err, g3.err)
	}
	if err := a1.SaveProgress(ctx, "job", owner, g3.g.Token, "s", 1, []byte("attempt 3")); err != nil {
		t.Fatalf("attempt 3's save: %v", err)
	}
}

// Regression (adversarial review, hole 5): WithScopeMemory promises the progress lives for the memory
// "after the scope last touched it (acquired, kept, saved or released)",
// but keeps never refresh the progress key: a section that keeps its
// scope alive through a step longer than the memory loses its progress,
// and its retry starts over.
func TestKeepingAScopeKeepsItsProgress(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(600*time.Millisecond), lease.WithNodeTimeout(150*time.Millisecond), lease.WithScopeMemory(time.Second))
	owner := scopeOwner(t, "h", 1)
	g, err := c.AcquireScope(ctx, "job", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SaveProgress(ctx, "job", owner, g.Token, "s", 1, []byte("step 1 done")); err != nil {
		t.Fatal(err)
	}
	for range 8 { // 1.6 s of a long step, the scope kept all along
		time.Sleep(200 * time.Millisecond)
		if _, err := c.KeepScope(ctx, "job", owner, 600*time.Millisecond, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, found, err := c.LoadProgress(ctx, "job", owner, "s"); err != nil || !found {
		t.Fatalf("progress of a kept scope: found=%v err=%v", found, err)
	}
}

// A keeper that does not know its scope started does not call it lost
// from a record that a failed start attempt left behind (its undo did not
// reach that node) once another holder was granted the node: the scope
// can still start. Found by the fault suite's Temporal workload, where a
// waiting job's keeper ended the job in LeaseLost before it ever held.
func TestKeeperIgnoresAFailedAttemptsLeftoverRecord(t *testing.T) {
	ctx := context.Background()
	c, cluster := newClient(t, 3, lease.WithTTL(600*time.Millisecond), lease.WithNodeTimeout(200*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	// What the leftover looks like: the scope's lock and record on node 0
	// only, as a one-node client leaves them.
	one, err := lease.New([]lease.Node{cluster.Nodes[0].Client}, lease.WithTTL(600*time.Millisecond), lease.WithNodeTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	if _, err := one.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // the leftover lock expires
	other := mustAcquire(t, c, "job")  // and another holder is granted node 0
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// Whichever node answers first: the keeper waits for all of them.
	for range 5 {
		_, err = c.KeepScope(ctx, "job", owner, 600*time.Millisecond, false)
		if !errors.Is(err, lease.ErrScopeNotStarted) || errors.Is(err, lease.ErrLost) {
			t.Fatalf("keep of a scope not known to have started: %v, want ErrScopeNotStarted", err)
		}
	}
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatalf("the scope's start after the leftover: %v", err)
	}
	if _, err := c.KeepScope(ctx, "job", owner, 600*time.Millisecond, false); err != nil {
		t.Fatalf("keep after the start: %v", err)
	}
}

// A keeper that does not know its scope started still reports a loss that
// more than N − quorum nodes prove, whichever nodes answer first.
func TestKeeperNotKnowingTheStartStillSeesAProvenLoss(t *testing.T) {
	ctx := context.Background()
	c, _ := newClient(t, 3, lease.WithTTL(time.Second), lease.WithNodeTimeout(250*time.Millisecond))
	owner := scopeOwner(t, "h", 1)
	if _, err := c.AcquireScope(ctx, "job", owner, lease.ScopeStart()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the scope's copies reach every node", func() bool {
		_, err := c.KeepScope(ctx, "job", owner, time.Second, true)
		return err == nil
	})
	time.Sleep(1100 * time.Millisecond) // the scope's lock expires everywhere
	other := mustAcquire(t, c, "job")   // another holder is granted every node
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := c.KeepScope(ctx, "job", owner, time.Second, false); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("keep after another holder took every node: %v, want ErrLost", err)
		}
	}
}
