// Command demo runs redlease end to end on a local stack and tells what
// happened: 5 redis-server nodes for the lease and 1 for a fenced store, a
// Temporal dev server with its web UI, two worker processes, and three
// ExclusiveJob workflows contending for one resource. Part-way through, the
// worker running the current job is killed with SIGKILL; the other worker
// takes the job over with a higher fencing token and finishes it.
//
//	make demo                  # or: go run ./internal/demo
//	go run ./internal/demo -keep   # keep the stack (and the UI) up until Ctrl-C
//
// Everything binds 127.0.0.1 on free ports and is stopped at the end or on
// Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redlease/redlease/internal/devstack"
)

// options of one demo run.
type options struct {
	jobs     int
	steps    int
	step     time.Duration
	keep     bool
	uiPort   string
	workDir  string // where logs and traces go
	progress func(format string, args ...any)
}

func main() {
	o := options{progress: func(format string, args ...any) { fmt.Printf("• "+format+"\n", args...) }}
	flag.IntVar(&o.jobs, "jobs", 3, "workflows contending for the resource")
	flag.IntVar(&o.steps, "steps", 12, "steps per job")
	flag.DurationVar(&o.step, "step", 250*time.Millisecond, "duration of one step")
	flag.BoolVar(&o.keep, "keep", os.Getenv("DEMO_KEEP") != "", "keep the stack up after the summary, until Ctrl-C (env DEMO_KEEP)")
	flag.StringVar(&o.uiPort, "ui-port", "", "port of the Temporal web UI (default: a free port)")
	flag.Parse()
	if o.jobs < 1 || o.steps < 6 || o.step <= 0 {
		fmt.Fprintln(os.Stderr, "demo: -jobs must be ≥ 1, -steps ≥ 6, -step positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "redlease-demo-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	o.workDir = dir
	if o.uiPort == "" {
		if o.uiPort, err = devstack.FreePort(); err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
	}
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
