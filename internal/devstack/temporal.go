// Package devstack starts the local parts the end-to-end tests and the demo
// run against: a Temporal dev server (the temporal CLI's start-dev) on free
// loopback ports, next to the redis-server nodes of lease/leasetest.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
)

// CLIVersion is the temporal CLI version the Makefile installs.
const CLIVersion = "v1.5.1"

// ErrNoTemporalCLI: the temporal binary was not found.
var ErrNoTemporalCLI = errors.New("devstack: temporal CLI not found: run `make temporal-cli` (go install github.com/temporalio/cli/cmd/temporal@" + CLIVersion + ")")

// TemporalCLI finds the temporal binary: $TEMPORAL_CLI, then PATH, then
// the Go bin directory (GOBIN, or GOPATH/bin) where `go install` puts it.
func TemporalCLI() (string, error) {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("devstack: TEMPORAL_CLI=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("temporal"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(string(trimNewline(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "temporal")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", ErrNoTemporalCLI
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// TemporalOptions configure StartTemporal.
type TemporalOptions struct {
	// UI enables the web UI on UIPort (a free port when empty).
	UI     bool
	UIPort string
	// Log receives the server's output. Default: discarded.
	Log io.Writer
}

// StartTemporal starts `temporal server start-dev` (headless unless
// opts.UI) on a free loopback port, with an in-memory database and the
// "default" namespace. The caller must close srv.Client() and Stop it.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*testsuite.DevServer, error) {
	cli, err := TemporalCLI()
	if err != nil {
		return nil, err
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{HostPort: "", Namespace: "default", Logger: quietLogger{}},
		EnableUI:      opts.UI,
		UIPort:        opts.UIPort,
		LogLevel:      "error",
		Stdout:        out,
		Stderr:        out,
	})
	if err != nil {
		return nil, fmt.Errorf("devstack: start temporal dev server: %w", err)
	}
	return srv, nil
}

// Temporal starts a dev server for a test and stops it in t.Cleanup. When
// the CLI is missing it skips the test with an install hint, or fails it
// when CI is "true".
func Temporal(t testing.TB) *testsuite.DevServer {
	t.Helper()
	srv, err := StartTemporal(context.Background(), TemporalOptions{})
	if errors.Is(err, ErrNoTemporalCLI) && os.Getenv("CI") != "true" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Client().Close() // Stop does not close the dev server's client
		if err := srv.Stop(); err != nil {
			t.Logf("stop temporal dev server: %v", err)
		}
	})
	return srv
}

// quietLogger drops the SDK client's log lines.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("devstack: find a free port: %w", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
