package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease/leasetest"
)

// doctorRun runs doctor on urls and returns its exit status and output.
func doctorRun(t *testing.T, urls string, args ...string) (int, string) {
	t.Helper()
	code, out, errOut := cli(t, map[string]string{"REDLEASE_REDIS_URLS": urls, "NO_COLOR": "1"}, "", append([]string{"doctor"}, args...)...)
	return code, out + errOut
}

// lines returns the output's lines that contain every one of words.
func lines(out string, words ...string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		match := true
		for _, w := range words {
			match = match && strings.Contains(l, w)
		}
		if match {
			got = append(got, l)
		}
	}
	return got
}

// Nodes as the tests start them: standalone masters, no persistence
// (a warning, not unsafe), noeviction, clocks in sync: exit 0.
func TestDoctorOnHealthyNodes(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	code, out := doctorRun(t, urls(cluster))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range [][]string{
		{"ok", "node 0", "independent", "standalone master"},
		{"warn", "node 1", "persistence", "no persistence", "fix:"},
		{"ok", "node 2", "eviction", "noeviction"},
		{"ok", "clock"},
		{"ok", "latency"},
		{"ok", "restart guard", "ready"},
		{"ok", "scripts"},
	} {
		if len(lines(out, want...)) == 0 {
			t.Errorf("no line with %q:\n%s", want, out)
		}
	}
	code, out = doctorRun(t, urls(cluster), "-o", "json")
	var rep struct {
		Unsafe, Failing bool
		Findings        []finding
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Unsafe || rep.Failing || len(rep.Findings) < 18 {
		t.Fatalf("json: exit %d %s", code, out)
	}
}

// The guard the nodes know against the one doctor is given: equal is ok,
// longer or shorter is unsafe (clients disagree on the guard).
func TestDoctorComparesRestartGuards(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	lc := newLeaseClient(t, cluster) // restart guard 1m (the default)
	if _, err := lc.Acquire(context.Background(), "teach-the-guard"); err != nil {
		t.Fatal(err)
	}
	if code, out := doctorRun(t, urls(cluster), "-restart-guard", "1m"); code != 0 || len(lines(out, "ok", "restart guard", "ready")) != 3 {
		t.Fatalf("the same guard: exit %d\n%s", code, out)
	}
	if code, out := doctorRun(t, urls(cluster), "-restart-guard", "30s"); code != 1 || len(lines(out, "unsafe", "restart guard of 1m0s, longer than 30s", "-restart-guard")) != 3 {
		t.Fatalf("doctor's guard shorter: exit %d\n%s", code, out)
	}
	if code, out := doctorRun(t, urls(cluster), "-restart-guard", "2m"); code != 1 || len(lines(out, "unsafe", "restart guard of 1m0s, shorter than 2m0s")) != 3 {
		t.Fatalf("doctor's guard longer: exit %d\n%s", code, out)
	}
}

// Run as the worker's least-privilege user, doctor cannot check what it
// must: it says so, with the fix, and fails (closed) instead of passing.
func TestDoctorAsARestrictedUserFailsClosed(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	ctx := context.Background()
	var u []string
	for _, n := range cluster.Nodes {
		acl := []any{"ACL", "SETUSER", "worker", "on", ">pw", "resetkeys", "~redlease:*", "resetchannels", "&redlease:*", "-@all", "+evalsha", "+eval", "+script|load", "+get", "+set", "+del", "+exists", "+pttl", "+pexpire", "+hget", "+hset", "+publish", "+time", "+subscribe", "+unsubscribe", "+ping", "+hello", "+auth"}
		if err := n.Client.Do(ctx, acl...).Err(); err != nil {
			t.Fatal(err)
		}
		u = append(u, "redis://worker:pw@"+n.Addr)
	}
	code, out := doctorRun(t, strings.Join(u, ","))
	if code != 1 || len(lines(out, "unknown", "independent", "INFO refused", "operator")) != 3 || len(lines(out, "unknown", "persistence")) != 3 {
		t.Fatalf("as the worker's user: exit %d\n%s", code, out)
	}
}

// Unsafe setups are flagged, each with its fix, and doctor exits 1: one
// server given twice, a replica, persistence that loses recent writes,
// an eviction policy that evicts locks, and (through the clock seam) a
// clock beyond the drift allowance.
func TestDoctorFlagsUnsafeSetups(t *testing.T) {
	cluster := leasetest.Start(t, 3)
	ctx := context.Background()
	n0 := cluster.Nodes[0]
	_, port, _ := strings.Cut(n0.Addr, ":")

	t.Run("one server twice", func(t *testing.T) {
		code, out := doctorRun(t, "redis://"+n0.Addr+",redis://localhost:"+port+",redis://"+cluster.Nodes[1].Addr)
		if code != 1 || len(lines(out, "unsafe", "node 1", "the same server as node 0", "fix:")) != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("a replica", func(t *testing.T) {
		replica := leasetest.Replicate(t, n0)
		code, out := doctorRun(t, "redis://"+n0.Addr+",redis://"+cluster.Nodes[1].Addr+",redis://"+replica.Addr)
		if code != 1 || len(lines(out, "unsafe", "node 2", "a replica (of 127.0.0.1:"+port+")")) != 1 ||
			len(lines(out, "warn", "node 0", "a master with 1 replica(s)", "never fail a lease node over")) != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("persistence and eviction", func(t *testing.T) {
		n1, n2 := cluster.Nodes[1].Client, cluster.Nodes[2].Client
		if err := n1.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
			t.Fatal(err)
		}
		if err := n2.ConfigSet(ctx, "save", "60 1").Err(); err != nil {
			t.Fatal(err)
		}
		if err := n0.Client.ConfigSet(ctx, "maxmemory", "100mb").Err(); err != nil {
			t.Fatal(err)
		}
		if err := n0.Client.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = n1.ConfigSet(ctx, "appendonly", "no").Err()
			_ = n2.ConfigSet(ctx, "save", "").Err()
			_ = n0.Client.ConfigSet(ctx, "maxmemory", "0").Err()
			_ = n0.Client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err()
		}()
		code, out := doctorRun(t, urls(cluster))
		if code != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range [][]string{
			{"unsafe", "node 1", "persistence", "appendfsync everysec", "fix: appendfsync always"},
			{"unsafe", "node 2", "persistence", "RDB snapshots"},
			{"unsafe", "node 0", "eviction", "allkeys-lru", "fix: maxmemory-policy noeviction"},
		} {
			if len(lines(out, want...)) != 1 {
				t.Errorf("no line with %q:\n%s", want, out)
			}
		}
	})
	t.Run("a skewed clock", func(t *testing.T) {
		defer func(saved func() time.Time) { clock = saved }(clock)
		clock = func() time.Time { return time.Now().Add(-3 * time.Second) } // this machine's clock 3 s behind
		code, out := doctorRun(t, urls(cluster))
		if code != 1 || len(lines(out, "unsafe", "clock 3s from this machine's", "beyond the drift allowance")) != 3 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("a node down and a node that lost its data", func(t *testing.T) {
		if err := cluster.Nodes[2].Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cluster.Nodes[1].Kill(); err != nil {
			t.Fatal(err)
		}
		code, out := doctorRun(t, urls(cluster))
		// An unchecked node fails the doctor (closed): exit 1.
		if code != 1 || len(lines(out, "unknown", "node 1", "reachable", "no answer")) != 1 || len(lines(out, "warn", "node 2", "restart guard", "no node key")) != 1 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}
