package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease/leasetest"
)

// demoPrerequisites fails (under CI=true) or skips the test here, not
// halfway through, when redis-server or the temporal CLI is missing, and
// returns a free port for the web UI.
func demoPrerequisites(t *testing.T) string {
	t.Helper()
	leasetest.Start(t, 1)
	if _, err := devstack.TemporalCLI(); err != nil {
		devstack.Temporal(t)
	}
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// The demo runs end to end on a real stack: jobs take turns, a worker is
// killed mid-section, the other takes over, and the summary says so.
func TestDemoRunsEndToEnd(t *testing.T) {
	port := demoPrerequisites(t)
	var out bytes.Buffer
	o := options{jobs: 2, steps: 9, step: 150 * time.Millisecond, uiPort: port, workDir: t.TempDir(),
		progress: func(format string, args ...any) { t.Logf(format, args...) }}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"took over after worker-", "The crash:", "Temporal web UI:  http://127.0.0.1:" + port, "Timeline:         " + filepath.Join(o.workDir, "timeline.html")} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
	// The timeline has a lane per job, the crash and the takeover.
	page, err := os.ReadFile(filepath.Join(o.workDir, "timeline.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-holder="job-1"`, `data-holder="job-2"`, `class="crash-mark"`, `class="bar takeover"`, "killed (token "} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the timeline lacks %s", want)
		}
	}
}

// Ctrl-C in the middle of the demo stops the whole stack: run returns the
// cancellation, and the web UI no longer answers.
func TestDemoStopsTheStackWhenInterrupted(t *testing.T) {
	port := demoPrerequisites(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	interrupt, ctrlC := context.WithCancel(ctx)
	o := options{jobs: 2, steps: 200, step: 100 * time.Millisecond, uiPort: port, workDir: t.TempDir(),
		progress: func(format string, args ...any) {
			t.Logf(format, args...)
			if strings.HasPrefix(format, "started %d ExclusiveJob") {
				if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil { // the UI is up
					c.Close()
					ctrlC()
				}
			}
		}}
	err := run(interrupt, o, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted demo returned %v, want context.Canceled", err)
	}
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Fatal("the web UI still answers after the demo stopped")
	}
}
