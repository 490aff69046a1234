package chaos

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redlease/redlease/lease/leasetest"
)

var (
	buildOnce sync.Once
	clientBin string
	buildErr  error
)

// client builds the client process once per test binary.
func client(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil && os.Getenv("CI") != "true" {
		t.Skip(leasetest.ErrNoRedisServer.Error()) // outside CI only; in CI the run fails loudly
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "redlease-chaos-bin")
		if err != nil {
			buildErr = err
			return
		}
		clientBin, buildErr = BuildClient(context.Background(), dir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return clientBin
}

// envSeed is CHAOS_SEED when set (to replay a run), else def.
func envSeed(t *testing.T, def uint64) uint64 {
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", s, err)
		}
		return n
	}
	return def
}

func runProfile(t *testing.T, p Profile) *Report {
	t.Helper()
	p.Client = client(t)
	// The run's directory outlives a failed test: its histories, schedule
	// and visualizations are the evidence. CHAOS_DIR chooses where.
	dir, err := os.MkdirTemp(os.Getenv("CHAOS_DIR"), "redlease-chaos-"+p.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	p.Dir = dir
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("histories, schedule and visualizations kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	p.Logf = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := Run(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	return rep
}

// The bounded profile (part of make test, so of CI): every fault kind, a
// fixed seed and a random one (printed; CHAOS_SEED=<seed> replays it).
// Nothing the README promises may break; where an assumption is broken on
// purpose (a client paused past its TTL, a clock at half speed) overlaps
// are allowed and counted, and fencing must still lose nothing.
func TestFaultSuiteBoundedProfile(t *testing.T) {
	seeds := map[string]uint64{"fixed": envSeed(t, 20261127), "random": envSeed(t, uint64(time.Now().UnixNano()))}
	for _, name := range []string{"fixed", "random"} {
		t.Run(name, func(t *testing.T) {
			rep := runProfile(t, Bounded(seeds[name]))
			for _, k := range rep.Kinds {
				if k.Kind != "none" && k.Events == 0 {
					t.Errorf("fault %s was never injected", k.Kind)
				}
			}
			if !rep.OK() {
				t.Fatalf("%d violations; replay with CHAOS_SEED=%d", len(rep.Violations), rep.Seed)
			}
			if rep.LeaseOps() < 2000 {
				t.Errorf("only %d lease operations", rep.LeaseOps())
			}
		})
	}
}

// The suite catches a deliberately broken build: the client processes are
// built with the fault seam and told to break one guarantee each.
func TestFaultSuiteCatchesBrokenBuilds(t *testing.T) {
	cases := []struct {
		brk    string
		faults []string
		caught func(*Report) bool
	}{
		// No restart guard: a node restarted empty in a lease's bare quorum
		// grants at once, and two holders overlap.
		{"guard", []string{FaultBareQuorum}, func(r *Report) bool {
			return slices.ContainsFunc(r.Violations, func(v string) bool { return strings.Contains(v, "mutual exclusion") })
		}},
		// No fence floor, the lowest counter as token, no raise: after a
		// majority restarted empty tokens go back, which porcupine sees.
		{"fence", []string{FaultMajority}, func(r *Report) bool { return r.Tokens == "Illegal" }},
	}
	for _, c := range cases {
		t.Run(c.brk, func(t *testing.T) {
			p := Broken(envSeed(t, 7), c.brk, c.faults...)
			rep := runProfile(t, p)
			if rep.OK() || !c.caught(rep) {
				t.Fatalf("the %q break went unnoticed", c.brk)
			}
			t.Logf("caught: %s", rep.Violations[0])
		})
		// The same run on the real build: the break, not the harness, made
		// the violations.
		t.Run(c.brk+"-control", func(t *testing.T) {
			p := Broken(envSeed(t, 7), c.brk, c.faults...)
			p.Name, p.Break = "control-"+c.brk, ""
			if rep := runProfile(t, p); !rep.OK() {
				t.Fatalf("%d violations without the break", len(rep.Violations))
			}
		})
	}
}
