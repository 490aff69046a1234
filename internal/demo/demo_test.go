package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease/leasetest"
)

// The demo runs end to end on a real stack: jobs take turns, a worker is
// killed mid-section, the other takes over, and the summary says so.
func TestDemoRunsEndToEnd(t *testing.T) {
	// Fail (under CI=true) or skip here, not halfway through, when a binary is missing.
	leasetest.Start(t, 1)
	if _, err := devstack.TemporalCLI(); err != nil {
		devstack.Temporal(t)
	}
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	o := options{jobs: 2, steps: 9, step: 150 * time.Millisecond, uiPort: port, workDir: t.TempDir(),
		progress: func(format string, args ...any) { t.Logf(format, args...) }}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, o, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"took over after worker-", "The crash:", "Temporal web UI:  http://127.0.0.1:" + port} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
