package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildWorker builds this package's binary into a temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runResult is how a run of the binary ended.
type runResult struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runWorker runs bin with args and exactly the environment vars (plus
// PATH), killing it after limit.
func runWorker(t *testing.T, bin string, limit time.Duration, vars []string, args ...string) runResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := runResult{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("worker %v still running after %v; stderr:\n%s", args, limit, r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run worker: %v", err)
	}
	return r
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestBinaryRejectsBadConfigurationWithStatus2(t *testing.T) {
	bin := buildWorker(t)
	nodes := "redis://127.0.0.1:1,redis://127.0.0.1:2,redis://127.0.0.1:3"
	tests := []struct {
		name string
		args []string
		env  []string
		want []string
	}{
		{"missing -redis", nil, nil, []string{"-redis", "REDLEASE_REDIS_URLS", "required"}},
		{"even node count", []string{"-redis", "redis://127.0.0.1:1,redis://127.0.0.1:2"}, nil, []string{"-redis", "odd"}},
		{"unparsable URL", []string{"-redis", "redis://:secret@127.0.0.1:1/db"}, nil, []string{"-redis", "database"}},
		{"bad duration from env", []string{"-redis", nodes}, []string{"REDLEASE_TTL=forever"}, []string{"REDLEASE_TTL", "-lease-ttl"}},
		{"bad duration flag", []string{"-redis", nodes, "-node-timeout", "10"}, nil, []string{"-node-timeout"}},
		{"ttl above the restart guard", []string{"-redis", nodes, "-lease-ttl", "2m"}, nil, []string{"-lease-ttl", "-restart-guard", "longer than the restart guard"}},
		{"unknown log level", []string{"-redis", nodes, "-log-level", "chatty"}, nil, []string{"-log-level", "chatty"}},
		{"unknown flag", []string{"-redis", nodes, "-nope"}, nil, []string{"-nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runWorker(t, bin, 30*time.Second, tt.env, tt.args...)
			if r.code != 2 {
				t.Fatalf("exit status %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 {
				t.Fatalf("stderr has %d lines, want one:\n%s", len(lines), r.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(lines[0], want) {
					t.Errorf("stderr %q does not mention %q", lines[0], want)
				}
			}
			if strings.Contains(r.stderr, "secret") {
				t.Errorf("stderr shows a password: %s", r.stderr)
			}
		})
	}
}

func TestBinaryHelpExitsZero(t *testing.T) {
	r := runWorker(t, buildWorker(t), 30*time.Second, nil, "-h")
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0", r.code)
	}
	for _, o := range options {
		if !strings.Contains(r.stderr, "-"+o.flag) || !strings.Contains(r.stderr, o.env) {
			t.Errorf("-h does not show -%s / %s", o.flag, o.env)
		}
	}
}

func TestBinaryExitsWhenTemporalIsUnreachable(t *testing.T) {
	bin := buildWorker(t)
	temporal := closedPort(t)
	redis := "redis://:secret@" + closedPort(t)
	r := runWorker(t, bin, time.Minute, nil,
		"-temporal-address", temporal, "-connect-timeout", "3s", "-redis", redis)
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if want := "cannot connect to Temporal at " + temporal; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
	}
	if r.elapsed > 20*time.Second {
		t.Errorf("took %v to give up with -connect-timeout 3s", r.elapsed)
	}
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("stderr shows a password: %s", r.stderr)
	}
}
