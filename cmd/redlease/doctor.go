package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// Finding levels: unsafe breaks a guarantee (doctor exits 1), warn may
// cost availability or needs a look, ok is a check that passed.
const (
	levelUnsafe = "unsafe"
	levelWarn   = "warn"
	levelOK     = "ok"
)

// finding is one line of doctor's report.
type finding struct {
	Level string `json:"level"`
	Node  int    `json:"node"` // -1: all nodes
	Addr  string `json:"addr,omitempty"`
	Check string `json:"check"`
	What  string `json:"what"`
	Fix   string `json:"fix,omitempty"`
}

// doctor checks the nodes against what the guarantees need.
type doctor struct {
	cfg   config
	now   func() time.Time // this machine's clock (a seam for tests)
	nodes []*redis.Client
	found []finding
}

func (d *doctor) add(level string, node int, check, what, fix string) {
	f := finding{Level: level, Node: node, Check: check, What: what, Fix: fix}
	if node >= 0 {
		f.Addr = d.cfg.redis[node].Addr
	}
	d.found = append(d.found, f)
}

// nodeInfo is what doctor reads from one node.
type nodeInfo struct {
	err     error
	runID   string
	role    string
	master  string // a replica's master host:port
	cluster bool
	conf    map[string]string
	rtt     time.Duration
	skew    time.Duration // node clock − this machine's, at the middle of the TIME call
	scripts int           // lease scripts in the node's cache
}

func (d *doctor) read(ctx context.Context, i int) nodeInfo {
	c := d.nodes[i]
	var in nodeInfo
	// Each request is bounded by the node timeout (at least a second: a
	// doctor is patient).
	bounded := func(f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, max(d.cfg.nodeTimeout, time.Second))
		defer cancel()
		return f(cctx)
	}
	var rtts []time.Duration
	for range 5 {
		start := time.Now()
		if err := bounded(func(ctx context.Context) error { return c.Ping(ctx).Err() }); err != nil {
			in.err = err
			return in
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	in.rtt = rtts[len(rtts)/2]
	var info string
	if err := bounded(func(ctx context.Context) (err error) {
		info, err = c.Info(ctx, "server", "replication", "cluster").Result()
		return err
	}); err != nil {
		in.err = fmt.Errorf("INFO: %w", err)
		return in
	}
	var host, port string
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "run_id":
			in.runID = v
		case "role":
			in.role = v
		case "master_host":
			host = v
		case "master_port":
			port = v
		case "cluster_enabled":
			in.cluster = v == "1"
		}
	}
	in.master = host + ":" + port
	in.conf = map[string]string{}
	for _, key := range []string{"appendonly", "appendfsync", "save", "maxmemory", "maxmemory-policy"} {
		if err := bounded(func(ctx context.Context) error {
			v, err := c.ConfigGet(ctx, key).Result()
			in.conf[key] = v[key]
			return err
		}); err != nil {
			in.err = fmt.Errorf("CONFIG GET %s: %w", key, err)
			return in
		}
	}
	var before, after, t time.Time
	if err := bounded(func(ctx context.Context) (err error) {
		before = d.now()
		t, err = c.Time(ctx).Result()
		after = d.now()
		return err
	}); err != nil {
		in.err = fmt.Errorf("TIME: %w", err)
		return in
	}
	in.skew = t.Sub(before.Add(after.Sub(before) / 2))
	_ = bounded(func(ctx context.Context) error {
		exists, err := c.ScriptExists(ctx, lease.ScriptSHA1s()...).Result()
		for _, e := range exists {
			if e {
				in.scripts++
			}
		}
		return err
	})
	return in
}

// run checks every node and the nodes together.
func (d *doctor) run(ctx context.Context, lc *lease.Client) {
	infos := make([]nodeInfo, len(d.nodes))
	for i := range d.nodes {
		infos[i] = d.read(ctx, i)
	}
	// The guard as the lease client reads it (the same code as status).
	st, stErr := lc.Inspect(ctx, "redlease-doctor")
	drift := time.Duration(float64(lease.DefaultTTL)*lease.DefaultDriftFactor) + 2*time.Millisecond
	byRunID := map[string]int{}
	for i, in := range infos {
		if in.err != nil {
			d.add(levelWarn, i, "reachable", "no answer: "+in.err.Error(), "start the node or fix -redis; a quorum must answer for leases to be granted")
			continue
		}
		if j, dup := byRunID[in.runID]; dup {
			d.add(levelUnsafe, i, "independent", fmt.Sprintf("the same server as node %d (run id %s…): one server counted twice", j, in.runID[:8]),
				"give each lease node its own redis-server process on its own machine")
		}
		byRunID[in.runID] = i
		switch {
		case in.role != "master":
			d.add(levelUnsafe, i, "independent", "a replica (of "+in.master+"), not an independent master: its data is another node's",
				"use independent masters as lease nodes; never a replica")
		case in.cluster:
			d.add(levelUnsafe, i, "independent", "Redis Cluster mode is enabled: the lease's keys would sit in different slots",
				"use standalone servers (cluster-enabled no)")
		default:
			d.add(levelOK, i, "independent", "a standalone master (run id "+in.runID[:8]+"…)", "")
		}
		aof, fsync, save := in.conf["appendonly"], in.conf["appendfsync"], in.conf["save"]
		switch {
		case aof == "yes" && fsync == "always":
			d.add(levelOK, i, "persistence", "AOF with appendfsync always: a restart keeps every lock", "")
		case aof == "yes":
			d.add(levelUnsafe, i, "persistence", "AOF with appendfsync "+fsync+": after a crash the node can lose its latest locks but keep the guard's node key, and grant a lock it had granted",
				"appendfsync always, or no persistence at all (appendonly no, save \"\")")
		case save != "":
			d.add(levelUnsafe, i, "persistence", "RDB snapshots (save \""+save+"\"): a restart from a snapshot older than a lock forgets the lock but keeps the node key",
				"save \"\" (no persistence; the restart guard covers restarts), or AOF with appendfsync always")
		default:
			d.add(levelWarn, i, "persistence", "no persistence: a restart loses every lock; the restart guard keeps the node from granting until they expired",
				"fine if every client uses the same restart guard; or AOF with appendfsync always")
		}
		policy, maxmem := in.conf["maxmemory-policy"], in.conf["maxmemory"]
		switch {
		case policy == "noeviction":
			d.add(levelOK, i, "eviction", "maxmemory-policy noeviction", "")
		case maxmem != "0":
			d.add(levelUnsafe, i, "eviction", "maxmemory-policy "+policy+" with maxmemory "+maxmem+": lock keys can be evicted, an evicted lock is a lost write",
				"maxmemory-policy noeviction")
		default:
			d.add(levelWarn, i, "eviction", "maxmemory-policy "+policy+" (maxmemory 0: nothing is evicted now; setting maxmemory would evict lock keys)",
				"maxmemory-policy noeviction")
		}
		switch skew := in.skew; {
		case skew > drift || skew < -drift:
			d.add(levelUnsafe, i, "clock", fmt.Sprintf("clock %v from this machine's, beyond the drift allowance %v (10s TTL): a clock this far off is not synchronised, and one that jumps breaks lease validity",
				skew.Round(time.Millisecond), drift), "run NTP (chrony) on the nodes and the clients")
		default:
			d.add(levelOK, i, "clock", fmt.Sprintf("clock within %v of this machine's", skew.Abs().Round(time.Millisecond)), "")
		}
		if in.rtt > d.cfg.nodeTimeout/2 {
			d.add(levelWarn, i, "latency", fmt.Sprintf("PING %v, more than half the node timeout %v: requests will time out", in.rtt.Round(time.Microsecond), d.cfg.nodeTimeout),
				"raise -node-timeout (and the clients' WithNodeTimeout), or move the node closer")
		} else {
			d.add(levelOK, i, "latency", fmt.Sprintf("PING %v (node timeout %v)", in.rtt.Round(time.Microsecond), d.cfg.nodeTimeout), "")
		}
		d.add(levelOK, i, "scripts", fmt.Sprintf("%d of %d lease scripts cached (missing ones load on first use)", in.scripts, len(lease.ScriptSHA1s())), "")
		if stErr == nil {
			n := st.Nodes[i]
			switch {
			case n.Err != nil:
			case n.Guard == "guarded":
				d.add(levelWarn, i, "restart guard", "guarded for "+n.GuardedFor.Round(time.Millisecond).String()+": the node lost its data and grants no lock until then", "wait; nothing to fix")
			case n.Guard == "new":
				d.add(levelWarn, i, "restart guard", "no node key: a new node, or one that lost its data; it will sit out a guard window at its first acquisition",
					"nothing, or lease.InitNode if the node is brand new and has never served locks")
			case n.Guard == "malformed":
				d.add(levelUnsafe, i, "restart guard", "the node key redlease:node is malformed: acquisitions fail", "delete it only if the node holds no lock, then let it sit out a guard window")
			case n.GuardWindow > d.cfg.restartGuard:
				d.add(levelUnsafe, i, "restart guard", fmt.Sprintf("the node knows a restart guard of %v, longer than -restart-guard %v: clients with the shorter guard are refused", n.GuardWindow, d.cfg.restartGuard),
					"use the same restart guard on every client")
			default:
				d.add(levelOK, i, "restart guard", "ready", "")
			}
		}
	}
}

// unsafe reports whether a finding is unsafe.
func (d *doctor) unsafe() bool {
	return slices.ContainsFunc(d.found, func(f finding) bool { return f.Level == levelUnsafe })
}

// runDoctor checks the nodes; it returns errUnsafe when something is
// unsafe, so the exit status can gate a deploy.
func runDoctor(ctx context.Context, cfg config, p *printer, now func() time.Time) error {
	lc, closeAll, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeAll()
	d := &doctor{cfg: cfg, now: now}
	for _, o := range cfg.redis {
		c := redis.NewClient(o)
		defer c.Close()
		d.nodes = append(d.nodes, c)
	}
	d.run(ctx, lc)
	if p.json {
		if err := p.JSON(struct {
			Unsafe   bool      `json:"unsafe"`
			Findings []finding `json:"findings"`
		}{d.unsafe(), d.found}); err != nil {
			return err
		}
	} else {
		for _, f := range d.found {
			where := "all nodes"
			if f.Node >= 0 {
				where = "node " + strconv.Itoa(f.Node) + " " + f.Addr
			}
			line := fmt.Sprintf("%-6s %s: %s: %s", p.paint(f.Level), where, f.Check, f.What)
			if f.Fix != "" && f.Level != levelOK {
				line += " — fix: " + f.Fix
			}
			fmt.Fprintln(p.w, line)
		}
	}
	if d.unsafe() {
		return errUnsafe
	}
	return nil
}

// errUnsafe: doctor found something unsafe (exit 1).
var errUnsafe = fmt.Errorf("doctor: unsafe configuration found (see the lines marked unsafe)")
