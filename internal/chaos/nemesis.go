package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/leasetest"
)

// Fault kinds of the lease workload.
const (
	FaultKillMinority = "kill-minority"          // SIGKILL up to a minority of nodes, restart them empty
	FaultBareQuorum   = "restart-in-bare-quorum" // leases on exactly a quorum; restart one of those nodes, then the rest, empty
	FaultMajority     = "restart-majority-empty" // a majority restarted empty at once
	FaultPauseNodes   = "pause-nodes"            // SIGSTOP nodes past the node timeout
	FaultLatency      = "latency"                // proxy latency, up to above the node timeout
	FaultDrop         = "drop-connections"       // proxies cut connections, or blackhole them
	FaultPauseClient  = "pause-client"           // SIGSTOP a client process past its TTL (assumption broken)
	FaultClockSkew    = "clock-skew"             // a client whose clock runs at half speed (assumption broken)
	FaultClockInBound = "clock-drift-in-bound"   // a client whose clock runs 0.5 % slow, inside the 1 % allowance
)

// AllFaults are the lease workload's fault kinds.
var AllFaults = []string{FaultKillMinority, FaultBareQuorum, FaultMajority, FaultPauseNodes,
	FaultLatency, FaultDrop, FaultPauseClient, FaultClockSkew, FaultClockInBound}

// breaksAssumption reports the fault kinds that break one of the documented
// assumptions on purpose: overlaps are expected there, and counted.
func breaksAssumption(kind string) bool { return kind == FaultPauseClient || kind == FaultClockSkew }

// Event is one fault injected (or cleared), for the printed schedule.
type Event struct {
	At   time.Time
	Kind string
	What string
}

func (e Event) String() string {
	return fmt.Sprintf("%s %-22s %s", e.At.Format("15:04:05.000"), e.Kind, e.What)
}

// pauseWindow is a client process's SIGSTOP, for the checkers.
type pauseWindow struct {
	proc       int
	from, till int64
}

// nemesis injects the faults of one run.
type nemesis struct {
	rnd     *rand.Rand
	cluster *leasetest.Cluster
	px      *proxies
	spawn   func(ctx context.Context, rate float64, hold time.Duration, until time.Time, mark bool) (*clientProc, error)
	store   *redis.Client
	ttl     time.Duration
	guard   time.Duration

	mu       sync.Mutex
	events   []Event
	injected map[string]int // faults injected per kind
	pauses   []pauseWindow
}

func (n *nemesis) log(kind, format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, Event{At: time.Now(), Kind: kind, What: fmt.Sprintf(format, args...)})
}

// inject counts one fault of kind.
func (n *nemesis) inject(kind string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.injected == nil {
		n.injected = map[string]int{}
	}
	n.injected[kind]++
}

func (n *nemesis) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.rnd.Int64N(int64(hi-lo)+1))
}

// pick returns k distinct random node indexes.
func (n *nemesis) pick(k int) []int {
	return n.rnd.Perm(len(n.cluster.Nodes))[:k]
}

func (n *nemesis) minority() int { return (len(n.cluster.Nodes) - 1) / 2 }

// run injects faults of kind until `until`, then clears them.
func (n *nemesis) run(ctx context.Context, kind string, until time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	switch kind {
	case FaultKillMinority:
		for ctx.Err() == nil {
			n.inject(kind)
			ids := n.pick(1 + n.rnd.IntN(n.minority()))
			if err := n.kill(kind, ids); err != nil {
				return err
			}
			n.sleep(ctx, n.between(300*time.Millisecond, 1500*time.Millisecond))
			if err := n.restart(kind, ids); err != nil {
				return err
			}
			n.sleep(ctx, n.between(200*time.Millisecond, time.Second))
		}
	case FaultBareQuorum:
		for ctx.Err() == nil {
			n.inject(kind)
			perm := n.pick(len(n.cluster.Nodes))
			down, quorum := perm[:n.minority()], perm[n.minority():]
			if err := n.kill(kind, down); err != nil {
				return err
			}
			// Leases acquired from now on sit on exactly the quorum left.
			n.sleep(ctx, n.between(n.ttl/4, n.ttl/2))
			// One node of that bare quorum loses its data, and the minority
			// comes back empty with it: without the restart guard these three
			// would grant while the holder still counts on the other two.
			if err := n.kill(kind, quorum[:1]); err != nil {
				return err
			}
			if err := n.restart(kind, append(down, quorum[0])); err != nil {
				return err
			}
			n.sleep(ctx, n.guard+n.ttl)
		}
	case FaultMajority:
		for ctx.Err() == nil {
			n.inject(kind)
			ids := n.pick(n.minority() + 1)
			if err := n.kill(kind, ids); err != nil {
				return err
			}
			if err := n.restart(kind, ids); err != nil {
				return err
			}
			n.sleep(ctx, n.guard+n.ttl)
		}
	case FaultPauseNodes:
		for ctx.Err() == nil {
			n.inject(kind)
			ids := n.pick(1 + n.rnd.IntN(n.minority()))
			for _, i := range ids {
				if err := n.cluster.Nodes[i].Pause(); err != nil {
					return err
				}
			}
			d := n.between(200*time.Millisecond, 1500*time.Millisecond)
			n.log(kind, "SIGSTOP nodes %v for %v", ids, d)
			n.sleep(ctx, d)
			for _, i := range ids {
				if err := n.cluster.Nodes[i].Resume(); err != nil {
					return err
				}
			}
			n.log(kind, "SIGCONT nodes %v", ids)
			n.sleep(ctx, n.between(100*time.Millisecond, 500*time.Millisecond))
		}
	case FaultLatency:
		for ctx.Err() == nil {
			n.inject(kind)
			ids := n.pick(1 + n.rnd.IntN(n.minority()+1))
			ms := 10 + n.rnd.IntN(140)
			for _, i := range ids {
				if err := n.px.latency(i, ms, ms/5); err != nil {
					return err
				}
			}
			n.log(kind, "latency %d ms each way on nodes %v", ms, ids)
			n.sleep(ctx, n.between(500*time.Millisecond, 2*time.Second))
			for _, i := range ids {
				n.px.heal(i)
			}
			n.log(kind, "latency off on nodes %v", ids)
		}
	case FaultDrop:
		for ctx.Err() == nil {
			n.inject(kind)
			ids := n.pick(1 + n.rnd.IntN(n.minority()))
			d := n.between(200*time.Millisecond, time.Second)
			if n.rnd.IntN(2) == 0 {
				for _, i := range ids {
					n.px.cut(i)
				}
				n.log(kind, "connections to nodes %v cut, refused for %v", ids, d)
				n.sleep(ctx, d)
				for _, i := range ids {
					if err := n.px.reopen(i); err != nil {
						return err
					}
				}
			} else {
				for _, i := range ids {
					if err := n.px.blackhole(i); err != nil {
						return err
					}
				}
				n.log(kind, "traffic to nodes %v blackholed for %v", ids, d)
				n.sleep(ctx, d)
				for _, i := range ids {
					n.px.heal(i)
				}
			}
			n.log(kind, "nodes %v reachable", ids)
			n.sleep(ctx, n.between(100*time.Millisecond, 500*time.Millisecond))
		}
	case FaultPauseClient:
		// A client with long sections that the nemesis pauses right inside
		// one, between its reads and its writes, for longer than the TTL:
		// the GC-pause zombie.
		p, err := n.spawn(ctx, 1, n.ttl/2, until, true)
		if err != nil {
			return err
		}
		n.log(kind, "client %d started, sections up to %v", p.proc, n.ttl/2)
		for ctx.Err() == nil {
			if !n.waitInside(ctx, p.proc) {
				break
			}
			n.inject(kind)
			d := n.ttl + n.between(200*time.Millisecond, time.Second)
			from := now()
			if err := p.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			n.log(kind, "SIGSTOP client %d inside its section for %v", p.proc, d)
			time.Sleep(d) // not cut short by ctx: the client must come back
			if err := p.signal(syscall.SIGCONT); err != nil {
				return err
			}
			n.mu.Lock()
			n.pauses = append(n.pauses, pauseWindow{proc: p.proc, from: from, till: now()})
			n.mu.Unlock()
			n.log(kind, "SIGCONT client %d", p.proc)
			n.sleep(ctx, n.between(300*time.Millisecond, time.Second))
		}
		if err := p.wait(); err != nil {
			return fmt.Errorf("chaos: paused client %d: %w", p.proc, err)
		}
	case FaultClockSkew, FaultClockInBound:
		rate, hold := 0.5, n.ttl*3/2
		if kind == FaultClockInBound {
			rate, hold = 0.995, n.ttl*19/20
		}
		p, err := n.spawn(ctx, rate, hold, until, false)
		if err != nil {
			return err
		}
		n.inject(kind)
		n.log(kind, "client %d started with its clock at rate %v, sections up to %v", p.proc, rate, hold)
		if err := p.wait(); err != nil {
			return fmt.Errorf("chaos: skewed client %d: %w", p.proc, err)
		}
		n.log(kind, "client %d ended", p.proc)
	default:
		return fmt.Errorf("chaos: unknown fault kind %q (want one of %v)", kind, AllFaults)
	}
	return nil
}

// waitInside waits until client proc is inside a section.
func (n *nemesis) waitInside(ctx context.Context, proc int) bool {
	for ctx.Err() == nil {
		if n, err := n.store.Exists(ctx, insideKey(proc)).Result(); err == nil && n == 1 {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

func (n *nemesis) kill(kind string, ids []int) error {
	slices.Sort(ids)
	for _, i := range ids {
		if err := n.cluster.Nodes[i].Kill(); err != nil {
			return err
		}
	}
	n.log(kind, "SIGKILL nodes %v", ids)
	return nil
}

// restart restarts the nodes empty, all at once.
func (n *nemesis) restart(kind string, ids []int) error {
	slices.Sort(ids)
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for j, i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[j] = n.cluster.Nodes[i].Restart(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.log(kind, "nodes %v restarted empty", ids)
	return nil
}

// heal clears whatever a fault left: paused nodes resumed, dead nodes
// started (empty), proxies healed and reopened.
func (n *nemesis) heal() error {
	for i, node := range n.cluster.Nodes {
		if node.Paused() {
			if err := node.Resume(); err != nil {
				return err
			}
		}
		if !node.Running() {
			if err := node.Restart(context.Background()); err != nil {
				return err
			}
		}
		n.px.heal(i)
		if err := n.px.reopen(i); err != nil {
			return err
		}
	}
	return nil
}
