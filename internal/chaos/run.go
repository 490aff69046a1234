package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease/leasetest"
)

// Profile is one run of the lease workload under the nemesis.
type Profile struct {
	Name   string
	Seed   uint64   // printed; the same seed replays the same schedule
	Faults []string // fault kinds; default AllFaults. Each round runs them in an order the seed shuffles
	Rounds int      // default 1
	Phase  time.Duration
	// Nodes, client processes, goroutines per process, resources.
	Nodes, Procs, Workers, Resources int
	TTL, Guard, NodeTimeout          time.Duration
	Wait                             time.Duration // each acquisition's WithWait
	Hold                             time.Duration // sections last up to this long
	// Permits, when above 0, runs the permit workload: each worker takes
	// one of Permits permits of a resource (AcquirePermit); every slot is
	// checked as a resource, and no more than Permits valid holders of a
	// resource may be inside at once.
	Permits int
	Break   string // REDLEASE_FAULT_BREAK for every client: a broken build on purpose
	Dir     string // histories, schedule and visualizations
	Client  string // the client binary (BuildClient)
	Logf    func(format string, args ...any)
}

func (p *Profile) defaults() {
	if len(p.Faults) == 0 {
		p.Faults = AllFaults
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.Rounds, 1)
	def(&p.Nodes, 5)
	def(&p.Procs, 3)
	def(&p.Workers, 2)
	def(&p.Resources, 2)
	defD(&p.Phase, 5*time.Second)
	defD(&p.TTL, time.Second)
	defD(&p.Guard, 2*time.Second)
	defD(&p.NodeTimeout, 50*time.Millisecond)
	defD(&p.Wait, 2*time.Second)
	defD(&p.Hold, 5*time.Millisecond)
	if p.Logf == nil {
		p.Logf = func(string, ...any) {}
	}
}

// phase is one fault kind's window, recovery included.
type phase struct {
	kind       string
	from, till int64
}

// Run runs p: nodes, proxies, store and client processes are started
// and stopped here. The error is for the harness failing; what the
// checkers found is in the Report.
func Run(ctx context.Context, p Profile) (*Report, error) {
	p.defaults()
	for _, k := range p.Faults {
		if !slices.Contains(AllFaults, k) {
			return nil, fmt.Errorf("chaos: unknown fault kind %q (want one of %v)", k, AllFaults)
		}
	}
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	p.Logf("chaos %s: seed %d (replay with -seed %d), %d nodes, %d processes × %d workers, %d resources, TTL %v, guard %v",
		p.Name, p.Seed, p.Seed, p.Nodes, p.Procs, p.Workers, p.Resources, p.TTL, p.Guard)
	cluster, err := leasetest.StartNodes(ctx, p.Nodes)
	if err != nil {
		return nil, err
	}
	defer cluster.Close()
	storeCluster, err := leasetest.StartNodes(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer storeCluster.Close()
	store := storeCluster.Nodes[0]
	px, err := startProxies(cluster.Addrs())
	if err != nil {
		return nil, err
	}
	defer px.close()

	resources := make([]string, p.Resources)
	for i := range resources {
		resources[i] = fmt.Sprintf("chaos-%d", i)
	}
	base := ClientConfig{Workers: p.Workers, Nodes: px.addrs(), Store: store.Addr, Resources: resources,
		TTL: p.TTL, Guard: p.Guard, NodeTimeout: p.NodeTimeout, Wait: p.Wait, Hold: p.Hold,
		Until: time.Now().Add(24 * time.Hour), Seed: p.Seed, Permits: p.Permits}
	var env []string
	if p.Break != "" {
		env = append(env, "REDLEASE_FAULT_BREAK="+p.Break)
	}
	var procs, all []*clientProc
	start := func(cfg ClientConfig, extra ...string) (*clientProc, error) {
		cfg.History = filepath.Join(p.Dir, fmt.Sprintf("history-p%d.jsonl", cfg.Proc))
		cp, err := startClient(p.Client, cfg, append(slices.Clone(env), extra...)...)
		if err == nil {
			all = append(all, cp)
		}
		return cp, err
	}
	defer func() { // whatever happened, no client is left stopped or running
		for _, cp := range all {
			_ = cp.signal(syscall.SIGCONT)
			_ = cp.signal(syscall.SIGKILL)
		}
	}()
	for i := range p.Procs {
		cfg := base
		cfg.Proc = i
		cp, err := start(cfg)
		if err != nil {
			return nil, err
		}
		procs = append(procs, cp)
	}
	rnd := rand.New(rand.NewPCG(p.Seed, 0x6e656d65736973))
	nem := &nemesis{rnd: rnd, cluster: cluster, px: px, ttl: p.TTL, guard: p.Guard, store: store.Client}
	nextProc := p.Procs
	nem.spawn = func(ctx context.Context, rate float64, hold time.Duration, until time.Time, mark bool) (*clientProc, error) {
		cfg := base
		cfg.Proc, cfg.Workers, cfg.Hold, cfg.Until, cfg.Mark = nextProc, 1, hold, until, mark
		nextProc++
		return start(cfg, fmt.Sprintf("REDLEASE_FAULT_CLOCK_RATE=%v", rate))
	}

	began := time.Now()
	recovery := p.Guard + p.Guard/100 + p.TTL + 500*time.Millisecond
	var phases []phase
	time.Sleep(time.Second) // warm-up, no fault
	phases = append(phases, phase{kind: "none", from: began.UnixNano(), till: now()})
	for round := range p.Rounds {
		order := slices.Clone(p.Faults)
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, kind := range order {
			// Each phase draws from its own generator: the k-th fault of a
			// phase is the same in every replay of the seed, whatever the
			// phases before it managed to inject in their time.
			nem.rnd = rand.New(rand.NewPCG(p.Seed, uint64(round)<<8|uint64(slices.Index(AllFaults, kind))))
			ph := phase{kind: kind, from: now()}
			p.Logf("round %d: %s for %v", round+1, kind, p.Phase)
			if err := nem.run(ctx, kind, time.Now().Add(p.Phase)); err != nil {
				return nil, err
			}
			if err := nem.heal(); err != nil {
				return nil, err
			}
			nem.log(kind, "healed; recovery %v", recovery)
			time.Sleep(recovery)
			ph.till = now()
			phases = append(phases, ph)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	for _, cp := range procs {
		_ = cp.signal(syscall.SIGTERM)
	}
	var histories []string
	for _, cp := range all {
		if err := cp.wait(); err != nil {
			return nil, fmt.Errorf("chaos: client %d: %w", cp.proc, err)
		}
		histories = append(histories, cp.cfg.History)
	}
	records, err := ReadHistory(histories...)
	if err != nil {
		return nil, err
	}
	final := finalState{plain: map[string][]string{}, fenced: map[string][]string{}}
	// Right after the clients ended (before any TTL ran out): a lock still
	// there whose Release returned is a violation.
	for i, node := range cluster.Nodes {
		keys, err := node.Client.Keys(ctx, "redlease:*:lock").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("chaos: node %d: %w", i, err)
		}
		slots, err := node.Client.Keys(ctx, "redlease:*:permit:*").Result() // permit slots, and their fence counters
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("chaos: node %d: %w", i, err)
		}
		for _, k := range slots {
			if !strings.HasSuffix(k, ":fence") {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			v, err := node.Client.Get(ctx, k).Result()
			if err == nil {
				final.leftover = append(final.leftover, leftover{node: i, key: k, owner: v})
			}
		}
	}
	checked := resources
	if p.Permits > 0 {
		checked = nil
		for _, res := range resources {
			for slot := range p.Permits {
				checked = append(checked, SlotResource(res, slot))
			}
		}
	}
	for _, res := range checked {
		k := keysOf(res)
		pl, err := getString(ctx, store.Client, k.plain)
		if err != nil {
			return nil, err
		}
		fe, err := getString(ctx, store.Client, k.fenced)
		if err != nil {
			return nil, err
		}
		final.plain[res], final.fenced[res] = Elements(pl), Elements(fe)
	}
	rep := check(p, records, phases, nem.events, nem.injected, nem.pauses, final)
	rep.Duration = time.Since(began)
	if err := rep.write(p.Dir, records); err != nil {
		return rep, err
	}
	return rep, nil
}

// finalState is what the store and the nodes hold after the run.
type finalState struct {
	plain, fenced map[string][]string
	leftover      []leftover
}

// leftover is a lock found on a node right after the clients ended.
type leftover struct {
	node       int
	key, owner string
}
