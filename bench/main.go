// Command bench runs redlease and redsync side by side on the same local
// redis-server nodes and prints latency, throughput, hand-off and memory
// tables, then the ratios against redlease's performance targets.
//
//	go run ./bench             # about a minute with the defaults
//	go run ./bench -d 5s       # longer measurements
//	go run ./bench -run parallel -cpuprofile cpu.out
//	go run ./bench -run held -memprofile heap.out
//
// It starts 7 redis-server processes on free loopback ports (redis-server
// must be on PATH), uses the first 5 for the main comparisons, and stops
// them when it ends, is interrupted, or reaches -timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redlease/redlease/lease/leasetest"
)

// options are the command-line flags.
type options struct {
	dur          time.Duration
	rounds       int
	warmup       time.Duration
	goroutines   int
	cs           time.Duration
	ttl          time.Duration
	holdTTL      time.Duration
	nodeTimeout  time.Duration
	nodeCounts   []int
	leaseCounts  []int
	scenarios    map[string]bool
	timeout      time.Duration
	cpuProfile   string
	memProfile   string
	temporalJobs int
	temporalCS   time.Duration
}

var allScenarios = []string{"single", "parallel", "contended", "nodes", "held", "temporal", "field", "permits"}

func parseFlags() (options, error) {
	var o options
	var nodes, leases, run string
	flag.DurationVar(&o.dur, "d", 2*time.Second, "duration of each measurement")
	flag.IntVar(&o.rounds, "rounds", 4, "rounds each measurement is split into, alternating the peers")
	flag.DurationVar(&o.warmup, "warmup", 200*time.Millisecond, "unrecorded warm-up before each measurement")
	flag.IntVar(&o.goroutines, "goroutines", 16, "goroutines of the parallel and contended scenarios")
	flag.DurationVar(&o.cs, "cs", 100*time.Microsecond, "critical section held in the contended scenario (a sleep)")
	flag.DurationVar(&o.ttl, "ttl", 10*time.Second, "lock TTL of both peers")
	flag.DurationVar(&o.holdTTL, "hold-ttl", 60*time.Second, "TTL of the held-leases scenario (keepers extend every TTL/3)")
	flag.DurationVar(&o.nodeTimeout, "node-timeout", 50*time.Millisecond, "bound of one request to one node, both peers")
	flag.StringVar(&nodes, "nodes", "1,3,5,7", "node counts of the node sweep (odd, at most 7)")
	flag.StringVar(&leases, "leases", "1,10,100,1000,10000", "numbers of concurrently held leases")
	flag.StringVar(&run, "run", strings.Join(allScenarios, ","), "scenarios to run: "+strings.Join(allScenarios, ","))
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop everything after this long")
	flag.IntVar(&o.temporalJobs, "temporal-jobs", 20, "workflows contending in the Temporal scenario")
	flag.DurationVar(&o.temporalCS, "temporal-cs", 200*time.Millisecond, "critical section of the Temporal scenario")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.StringVar(&o.memProfile, "memprofile", "", "write a heap profile to this file while the most redlease leases are held")
	flag.Parse()
	if flag.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	var err error
	if o.nodeCounts, err = parseInts(nodes, 1, clusterSize); err != nil {
		return o, fmt.Errorf("-nodes: %w", err)
	}
	if o.leaseCounts, err = parseInts(leases, 1, 1_000_000); err != nil {
		return o, fmt.Errorf("-leases: %w", err)
	}
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(run, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allScenarios, s) {
			return o, fmt.Errorf("-run: unknown scenario %q", s)
		}
		o.scenarios[s] = true
	}
	if o.dur <= 0 || o.goroutines <= 0 || o.rounds <= 0 || o.warmup < 0 || o.cs < 0 {
		return o, errors.New("-d, -goroutines and -rounds must be positive, -warmup and -cs not negative")
	}
	return o, nil
}

func parseInts(list string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%q is not a number in [%d, %d]", f, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	o, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	go func() { <-ctx.Done(); stop() }() // a second signal kills at once

	if o.memProfile != "" {
		runtime.MemProfileRate = 4096 // finer than the default, for per-lease objects
	}
	if o.cpuProfile != "" {
		stopProfile, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	cluster, err := leasetest.StartNodes(ctx, clusterSize)
	if err != nil {
		return err
	}
	defer func() {
		if err := cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping nodes:", err)
		}
	}()
	b := newBench(cluster, o)
	err = b.run(ctx)
	b.printTargets(os.Stdout)
	b.field.print(os.Stdout)
	if err == nil {
		err = context.Cause(ctx)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("stopped at -timeout %v: %w", o.timeout, err)
	case errors.Is(err, context.Canceled):
		err = fmt.Errorf("interrupted: %w", err)
	}
	return err
}
