package tests

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"go.temporal.io/sdk/temporal"
)

// chaosSeed is CHAOS_SEED when set (to replay a run), else the clock.
func chaosSeed(t *testing.T) uint64 {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// temporalNemesis disturbs one stack at random: at most one worker is
// down or frozen at a time (a replacement starts at once), and at most two
// lease nodes are in their restart guard at once, so the documented
// assumptions hold throughout and every job must complete.
type temporalNemesis struct {
	t       *testing.T
	s       *stack
	rnd     *rand.Rand
	mu      sync.Mutex
	workers []*workerProc
	started int
	guarded map[int]time.Time // node -> end of its restart guard
	events  []string
	kinds   map[string]int
}

func (n *temporalNemesis) log(kind, format string, args ...any) {
	n.events = append(n.events, time.Now().Format("15:04:05.000")+" "+kind+": "+fmt.Sprintf(format, args...))
	n.kinds[kind]++
}

func (n *temporalNemesis) newWorker() *workerProc {
	n.started++
	return n.s.startWorker(fmt.Sprintf("w%d", n.started))
}

// step injects one fault, chosen by the seed, and clears it.
func (n *temporalNemesis) step(kind string) {
	ttl := scopeTTL
	switch kind {
	case "kill-worker":
		i := n.rnd.IntN(len(n.workers))
		n.workers[i].kill()
		n.workers[i] = n.newWorker()
		n.log(kind, "SIGKILL worker %d, replacement w%d started", i, n.started)
	case "freeze-worker": // a zombie: frozen past the TTL, then back
		i := n.rnd.IntN(len(n.workers))
		d := ttl + time.Duration(n.rnd.Int64N(int64(2*time.Second)))
		if err := n.workers[i].signal(syscall.SIGSTOP); err != nil {
			n.t.Fatal(err)
		}
		n.log(kind, "SIGSTOP worker %d for %v", i, d)
		time.Sleep(d)
		if err := n.workers[i].signal(syscall.SIGCONT); err != nil {
			n.t.Fatal(err)
		}
	case "restart-node-empty":
		now := time.Now()
		var free []int
		busy := 0
		for i := range n.s.nodes.Nodes {
			if n.guarded[i].After(now) {
				busy++
			} else {
				free = append(free, i)
			}
		}
		if busy >= 2 { // a third would leave no quorum of ready nodes
			n.log(kind, "skipped: two nodes in their guard")
			return
		}
		i := free[n.rnd.IntN(len(free))]
		if err := n.s.nodes.Nodes[i].Restart(n.t.Context()); err != nil {
			n.t.Fatal(err)
		}
		n.guarded[i] = now.Add(65 * time.Second) // the workers' guard (1 min) and its drift allowance
		n.log(kind, "node %d restarted empty", i)
	case "pause-node":
		i := n.rnd.IntN(len(n.s.nodes.Nodes))
		d := 300*time.Millisecond + time.Duration(n.rnd.Int64N(int64(2*time.Second)))
		node := n.s.nodes.Nodes[i]
		if !node.Running() {
			return
		}
		if err := node.Pause(); err != nil {
			n.t.Fatal(err)
		}
		n.log(kind, "SIGSTOP node %d for %v", i, d)
		time.Sleep(d)
		if err := node.Resume(); err != nil {
			n.t.Fatal(err)
		}
	}
}

// The fault suite's Temporal workload: ExclusiveJob and StagedJob
// workflows contend for one resource on a real dev server, driven through
// the temporal CLI, while a seeded nemesis SIGKILLs and freezes workers,
// restarts lease nodes empty and pauses them; the staged jobs' sections
// fail and are retried with a backoff longer than the TTL. Every job
// completes, every step is written, each job's writes form one run in the
// fenced log (nobody held the resource in the middle of another's scope),
// and no lock is left.
func TestTemporalFaultSuite(t *testing.T) {
	seed := chaosSeed(t)
	t.Logf("seed %d (replay with CHAOS_SEED=%d)", seed, seed)
	rnd := rand.New(rand.NewPCG(seed, 2))
	s := newStack(t, "chaos")
	n := &temporalNemesis{t: t, s: s, rnd: rnd, guarded: map[int]time.Time{}, kinds: map[string]int{}}
	n.workers = []*workerProc{n.newWorker(), n.newWorker()}
	n.workers[0].waitPolling(t, s)

	const resource = "chaos-press"
	want := map[string]int{} // job -> steps
	var ids []string
	for i := range 8 {
		id := fmt.Sprintf("job-%d", i)
		ids = append(ids, id)
		if i%2 == 0 {
			steps := 6 + rnd.IntN(6)
			want[id] = steps
			s.startJob(id, jobRequest(resource, steps, 150*time.Millisecond, scopeTTL, scopeHeartbeat))
			continue
		}
		first := exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond,
			FailAttempts: int32(rnd.IntN(3)), PauseAfter: time.Duration(rnd.IntN(3)) * time.Second}
		req := stagedRequest(resource, scopeTTL, first, exclusivejob.Stage{Steps: 3, StepDuration: 50 * time.Millisecond})
		// Retries wait longer than the TTL: the scope must hold through them.
		req.Lease.SectionRetry = &temporal.RetryPolicy{InitialInterval: scopeTTL + time.Second, BackoffCoefficient: 1}
		want[id] = 6
		s.startWorkflow(exclusivejob.StagedJobName, id, req)
	}

	done := make(chan struct{})
	var nemWG sync.WaitGroup
	nemWG.Add(1)
	go func() {
		defer nemWG.Done()
		kinds := []string{"kill-worker", "freeze-worker", "restart-node-empty", "pause-node"}
		deadline := time.Now().Add(3 * time.Minute)
		for i := 0; time.Now().Before(deadline); i++ {
			select {
			case <-done:
				return
			case <-time.After(500*time.Millisecond + time.Duration(rnd.Int64N(int64(1500*time.Millisecond)))):
			}
			kind := kinds[i%len(kinds)] // every kind early, then at random
			if i >= len(kinds) {
				kind = kinds[rnd.IntN(len(kinds))]
			}
			n.step(kind)
		}
	}()
	statuses := map[string]string{}
	for _, id := range ids {
		status, _, closeEvent := s.result(id)
		statuses[id] = status
		if status != "COMPLETED" {
			t.Errorf("%s: %s %s", id, status, closeEvent)
		}
	}
	close(done)
	nemWG.Wait()
	t.Logf("nemesis schedule (seed %d):\n%s", seed, strings.Join(n.events, "\n"))

	entries := s.logEntries()
	order, err := fencedstore.Check(entries)
	if err != nil {
		t.Errorf("fenced log: %v", err)
	}
	seen := map[string]bool{}
	for _, h := range order {
		if seen[h] {
			t.Errorf("%s wrote again after another job held the resource: holders in order %v", h, order)
		}
		seen[h] = true
	}
	steps := map[string]map[int]int{}
	twice := 0
	for _, e := range entries {
		if steps[e.Holder] == nil {
			steps[e.Holder] = map[int]int{}
		}
		if steps[e.Holder][e.Step]++; steps[e.Holder][e.Step] == 2 {
			twice++
		}
	}
	for id, n := range want {
		for i := range n {
			if steps[id][i] == 0 {
				t.Errorf("%s: step %d never written", id, i)
			}
		}
	}
	if locked := s.lockedNodes(resource); locked != 0 {
		t.Errorf("lock left on %d nodes", locked)
	}
	rejected, err := s.store.Rejected(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kill-worker", "freeze-worker", "restart-node-empty", "pause-node"} {
		if n.kinds[k] == 0 {
			t.Errorf("fault %s never injected", k)
		}
	}
	t.Logf("%d jobs, %d writes, %d steps written twice (a crash redoes at most the step in progress), %d stale writes refused by the fence; faults %v",
		len(ids), len(entries), twice, len(rejected), n.kinds)
}
