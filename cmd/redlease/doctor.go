package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// Finding levels: unsafe breaks a guarantee, unknown is a check that could
// not be made (both make doctor exit 1: it fails closed), warn may cost
// availability or needs a look, ok is a check that passed.
const (
	levelUnsafe  = "unsafe"
	levelUnknown = "unknown"
	levelWarn    = "warn"
	levelOK      = "ok"
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

// nodeInfo is what doctor reads from one node; each part has its own
// error, so one refused command (an ACL) does not hide the other checks.
type nodeInfo struct {
	pingErr  error // no PING: the node is unreachable, nothing else is read
	rtt      time.Duration
	infoErr  error
	runID    string
	role     string
	master   string // a replica's master host:port
	replicas int    // a master's connected replicas
	cluster  bool
	confErr  error
	conf     map[string]string // only the keys the node returned
	timeErr  error
	skew     time.Duration // node clock − this machine's, at the middle of the TIME call
	timeRTT  time.Duration // the TIME call's round trip: the skew's uncertainty is half of it
	scripts  int           // lease scripts in the node's cache; -1 unknown
}

// configKeys are the settings the checks read.
var configKeys = []string{"appendonly", "appendfsync", "no-appendfsync-on-rewrite", "save", "maxmemory", "maxmemory-policy"}

func (d *doctor) read(ctx context.Context, i int) nodeInfo {
	c := d.nodes[i]
	in := nodeInfo{conf: map[string]string{}, scripts: -1}
	// Each request is bounded (the clients end requests at their context's
	// deadline: ContextTimeoutEnabled) by the node timeout, at least a
	// second: a doctor is patient.
	bounded := func(f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, max(d.cfg.nodeTimeout, time.Second))
		defer cancel()
		return f(cctx)
	}
	var rtts []time.Duration
	for range 5 {
		start := time.Now()
		if err := bounded(func(ctx context.Context) error { return c.Ping(ctx).Err() }); err != nil {
			in.pingErr = err
			return in
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	in.rtt = rtts[len(rtts)/2] // the first PING dials; the median leaves it out
	var info string
	in.infoErr = bounded(func(ctx context.Context) (err error) {
		info, err = c.Info(ctx, "server", "replication", "cluster").Result()
		return err
	})
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
		case "connected_slaves":
			in.replicas, _ = strconv.Atoi(v)
		case "cluster_enabled":
			in.cluster = v == "1"
		}
	}
	in.master = host + ":" + port
	for _, key := range configKeys {
		err := bounded(func(ctx context.Context) error {
			v, err := c.ConfigGet(ctx, key).Result()
			if val, ok := v[key]; ok {
				in.conf[key] = val
			}
			return err
		})
		if err != nil {
			in.confErr = fmt.Errorf("CONFIG GET %s: %w", key, err)
			break
		}
	}
	in.timeErr = bounded(func(ctx context.Context) error {
		before := d.now()
		t, err := c.Time(ctx).Result()
		after := d.now()
		in.skew = t.Sub(before.Add(after.Sub(before) / 2))
		in.timeRTT = after.Sub(before)
		return err
	})
	_ = bounded(func(ctx context.Context) error {
		exists, err := c.ScriptExists(ctx, lease.ScriptSHA1s()...).Result()
		if err == nil {
			in.scripts = 0
			for _, e := range exists {
				if e {
					in.scripts++
				}
			}
		}
		return err
	})
	return in
}

// operatorFix is the fix for a check a node refused.
const operatorFix = "run doctor as an operator's user: it needs PING, INFO, CONFIG GET, TIME, SCRIPT EXISTS and EVALSHA (the worker's ACL user has only the last)"

// run checks every node and the nodes together.
func (d *doctor) run(ctx context.Context, lc *lease.Client) {
	infos := make([]nodeInfo, len(d.nodes))
	for i := range d.nodes {
		infos[i] = d.read(ctx, i)
	}
	// The guard as the lease client reads it (the same code as status).
	st, stErr := lc.Inspect(ctx, "redlease-doctor")
	ttl := min(lease.DefaultTTL, d.cfg.restartGuard)
	drift := time.Duration(float64(ttl)*lease.DefaultDriftFactor) + 2*time.Millisecond
	byRunID := map[string]int{}
	skewed := 0
	for i, in := range infos {
		if in.pingErr != nil {
			d.add(levelUnknown, i, "reachable", "no answer: "+in.pingErr.Error(), "start the node or fix -redis; nothing else could be checked on it")
			continue
		}
		d.checkIndependence(i, in, byRunID)
		d.checkPersistence(i, in)
		d.checkEviction(i, in)
		if d.checkClock(i, in, drift, ttl) {
			skewed++
		}
		if in.rtt > d.cfg.nodeTimeout/2 {
			d.add(levelWarn, i, "latency", fmt.Sprintf("PING %v, more than half the node timeout %v: requests will time out", in.rtt.Round(time.Microsecond), d.cfg.nodeTimeout),
				"raise -node-timeout (and the clients' WithNodeTimeout), or move the node closer")
		} else {
			d.add(levelOK, i, "latency", fmt.Sprintf("PING %v (node timeout %v)", in.rtt.Round(time.Microsecond), d.cfg.nodeTimeout), "")
		}
		if in.scripts < 0 {
			d.add(levelWarn, i, "scripts", "the script cache could not be read (SCRIPT EXISTS refused)", operatorFix)
		} else {
			d.add(levelOK, i, "scripts", fmt.Sprintf("%d of %d lease scripts cached (missing ones load on first use)", in.scripts, len(lease.ScriptSHA1s())), "")
		}
		switch {
		case stErr != nil:
			d.add(levelUnknown, i, "restart guard", "could not be read: "+stErr.Error(), operatorFix)
		default:
			d.checkGuard(i, st.Nodes[i])
		}
	}
	if reachable := len(infos) - countFindings(d.found, levelUnknown, "reachable"); skewed > 0 && skewed == reachable && reachable > 1 {
		d.add(levelWarn, -1, "clock", "every node's clock is off by about as much: this machine's clock may be the one that is off", "check this machine's time synchronisation too")
	}
}

func countFindings(fs []finding, level, check string) int {
	n := 0
	for _, f := range fs {
		if f.Level == level && f.Check == check {
			n++
		}
	}
	return n
}

func (d *doctor) checkIndependence(i int, in nodeInfo, byRunID map[string]int) {
	if in.infoErr != nil {
		d.add(levelUnknown, i, "independent", "INFO refused: "+in.infoErr.Error(), operatorFix)
		return
	}
	id := in.runID
	if len(id) > 8 {
		id = id[:8] + "…"
	}
	if j, dup := byRunID[in.runID]; dup && in.runID != "" {
		d.add(levelUnsafe, i, "independent", fmt.Sprintf("the same server as node %d (run id %s): one server counted twice", j, id),
			"give each lease node its own redis-server process on its own machine")
		return
	}
	if in.runID != "" {
		byRunID[in.runID] = i
	}
	switch {
	case in.role != "master":
		d.add(levelUnsafe, i, "independent", "a replica (of "+in.master+"), not an independent master: its data is another node's",
			"use independent masters as lease nodes; never a replica")
	case in.cluster:
		d.add(levelUnsafe, i, "independent", "Redis Cluster mode is enabled: the lease's keys would sit in different slots",
			"use standalone servers (cluster-enabled no)")
	case in.replicas > 0:
		d.add(levelWarn, i, "independent", fmt.Sprintf("a master with %d replica(s): a failover would promote a replica that may be behind, which keeps the restart guard's key but not the latest locks", in.replicas),
			"never fail a lease node over to its replica (or remove the replicas)")
	case in.runID == "":
		d.add(levelUnknown, i, "independent", "no run id in INFO: cannot tell whether two nodes are one server", "use redis-server 7")
	default:
		d.add(levelOK, i, "independent", "a standalone master (run id "+id+")", "")
	}
}

func (d *doctor) checkPersistence(i int, in nodeInfo) {
	aof, okAOF := in.conf["appendonly"]
	fsync := in.conf["appendfsync"]
	rewrite := in.conf["no-appendfsync-on-rewrite"]
	save, okSave := in.conf["save"]
	switch {
	case in.confErr != nil || !okAOF || !okSave:
		d.add(levelUnknown, i, "persistence", fmt.Sprintf("could not read the persistence settings (%v)", in.confErr), operatorFix)
	case aof == "yes" && fsync == "always" && rewrite == "yes":
		d.add(levelUnsafe, i, "persistence", "AOF with appendfsync always, but no-appendfsync-on-rewrite yes: during a rewrite acknowledged lock writes are not synced",
			"no-appendfsync-on-rewrite no")
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
}

func (d *doctor) checkEviction(i int, in nodeInfo) {
	policy, okPolicy := in.conf["maxmemory-policy"]
	maxmem, okMax := in.conf["maxmemory"]
	switch {
	case in.confErr != nil || !okPolicy || !okMax:
		d.add(levelUnknown, i, "eviction", "could not read maxmemory and maxmemory-policy", operatorFix)
	case policy == "noeviction":
		d.add(levelOK, i, "eviction", "maxmemory-policy noeviction", "")
	case maxmem != "0":
		d.add(levelUnsafe, i, "eviction", "maxmemory-policy "+policy+" with maxmemory "+maxmem+": lock keys can be evicted, an evicted lock is a lost write",
			"maxmemory-policy noeviction")
	default:
		d.add(levelWarn, i, "eviction", "maxmemory-policy "+policy+" (maxmemory 0: nothing is evicted now; setting maxmemory would evict lock keys)",
			"maxmemory-policy noeviction")
	}
}

// checkClock reports whether the node's clock is off by more than the
// drift allowance, beyond what the measurement can tell (half the round
// trip).
func (d *doctor) checkClock(i int, in nodeInfo, drift, ttl time.Duration) bool {
	if in.timeErr != nil {
		d.add(levelUnknown, i, "clock", "TIME refused: "+in.timeErr.Error(), operatorFix)
		return false
	}
	if off := in.skew.Abs() - in.timeRTT/2; off > drift {
		d.add(levelUnsafe, i, "clock", fmt.Sprintf("clock %v from this machine's (±%v), beyond the drift allowance %v for a %v TTL: one of the two clocks is not synchronised, and a clock that jumps breaks lease validity",
			in.skew.Round(time.Millisecond), (in.timeRTT/2).Round(time.Millisecond), drift, ttl), "run NTP (chrony) on the nodes and the clients")
		return true
	}
	d.add(levelOK, i, "clock", fmt.Sprintf("clock within %v of this machine's", in.skew.Abs().Round(time.Millisecond)), "")
	return false
}

func (d *doctor) checkGuard(i int, n lease.NodeState) {
	const guardFix = "use the same restart guard on every client, and give doctor that guard (-restart-guard, REDLEASE_RESTART_GUARD)"
	switch {
	case n.Err != nil:
		d.add(levelUnknown, i, "restart guard", "could not be read: "+n.Err.Error(), operatorFix)
	case n.Guard == "malformed":
		d.add(levelUnsafe, i, "restart guard", "the node key redlease:node is malformed: acquisitions fail", "delete it only if the node holds no lock, then let it sit out a guard window")
	case n.GuardWindow > d.cfg.restartGuard:
		d.add(levelUnsafe, i, "restart guard", fmt.Sprintf("the node knows a restart guard of %v, longer than %v: clients with the shorter guard are refused", n.GuardWindow, d.cfg.restartGuard), guardFix)
	case n.GuardWindow > 0 && n.GuardWindow < d.cfg.restartGuard:
		d.add(levelUnsafe, i, "restart guard", fmt.Sprintf("the node knows a restart guard of %v, shorter than %v: a client with a shorter guard uses these nodes, and a node that lost its data may grant before every lease it granted expired", n.GuardWindow, d.cfg.restartGuard), guardFix)
	case n.Guard == "guarded":
		d.add(levelWarn, i, "restart guard", "guarded for "+n.GuardedFor.Round(time.Millisecond).String()+": the node lost its data and grants no lock until then", "wait; nothing to fix")
	case n.Guard == "new":
		d.add(levelWarn, i, "restart guard", "no node key: a new node, or one that lost its data; it will sit out a guard window at its first acquisition",
			"nothing, or lease.InitNode if the node is brand new and has never served locks")
	default:
		d.add(levelOK, i, "restart guard", "ready", "")
	}
}

// failing reports whether a finding makes doctor fail: unsafe, or a check
// that could not be made.
func (d *doctor) failing() bool {
	return slices.ContainsFunc(d.found, func(f finding) bool { return f.Level == levelUnsafe || f.Level == levelUnknown })
}

// runDoctor checks the nodes; it fails (exit 1) when something is unsafe
// or could not be checked, so the exit status can gate a deploy.
func runDoctor(ctx context.Context, cfg config, p *printer, now func() time.Time) error {
	lc, nodes, closeAll, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeAll()
	d := &doctor{cfg: cfg, now: now, nodes: nodes}
	d.run(ctx, lc)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("doctor interrupted: %w", err)
	}
	if p.json {
		if err := p.JSON(struct {
			Unsafe   bool      `json:"unsafe"`
			Failing  bool      `json:"failing"` // unsafe, or a check could not be made
			Findings []finding `json:"findings"`
		}{slices.ContainsFunc(d.found, func(f finding) bool { return f.Level == levelUnsafe }), d.failing(), d.found}); err != nil {
			return err
		}
	} else {
		for _, f := range d.found {
			where := "all nodes"
			if f.Node >= 0 {
				where = "node " + strconv.Itoa(f.Node) + " " + f.Addr
			}
			level := fmt.Sprintf("%-7s", f.Level) // padded before painting: escapes are not columns
			level = strings.Replace(level, f.Level, p.paint(f.Level), 1)
			line := fmt.Sprintf("%s %s: %s: %s", level, where, f.Check, f.What)
			if f.Fix != "" && f.Level != levelOK {
				line += " — fix: " + f.Fix
			}
			fmt.Fprintln(p.w, line)
		}
	}
	if d.failing() {
		return errUnsafe
	}
	return nil
}

// errUnsafe: doctor found something unsafe or could not check something
// (exit 1).
var errUnsafe = errors.New("doctor: unsafe or unchecked (see the lines marked unsafe or unknown)")
