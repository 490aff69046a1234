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
	"time"

	"github.com/redlease/redlease/internal/childproc"
	"go.temporal.io/sdk/client"
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

// Server is a running `temporal server start-dev` process.
type Server struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	client   client.Client
	hostPort string
}

// Client is a client of the "default" namespace; Stop closes it.
func (s *Server) Client() client.Client { return s.client }

// FrontendHostPort is the frontend's address, 127.0.0.1:port.
func (s *Server) FrontendHostPort() string { return s.hostPort }

// stopGrace is how long Stop waits for the server to exit after SIGINT.
const stopGrace = 10 * time.Second

// Stop closes the client and interrupts the server (SIGINT), killing it if
// it has not exited within 10 s. It waits for the process to exit.
func (s *Server) Stop() error {
	if s.client != nil {
		s.client.Close()
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		if errors.Is(err, os.ErrProcessDone) { // exited just now
			<-s.exited
			return nil
		}
		return fmt.Errorf("devstack: interrupt temporal dev server: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(stopGrace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("devstack: temporal dev server ignored SIGINT for 10s; killed")
	}
}

// StartTemporal starts `temporal server start-dev` (headless unless
// opts.UI) on a free loopback port, with an in-memory database and the
// "default" namespace, and waits until it answers (at most 60 s, or until
// ctx ends). The process is killed if it is not ready, and (on Linux) when
// this process exits. The caller must Stop it.
//
// The dev server binds more ports than the one it is given (ports derived
// from it, for its internal services), which another process may have
// taken meanwhile: when it exits at start, it is tried again on other
// ports, three times in all.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Server, error) {
	cli, err := TemporalCLI()
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s, err := startTemporal(ctx, cli, opts)
		if err == nil || !errors.Is(err, errExitedAtStart) || attempt == 3 || ctx.Err() != nil {
			return s, err
		}
	}
}

// errExitedAtStart: the dev server process ended before it answered.
var errExitedAtStart = errors.New("exited at start")

// startTemporal is one try of StartTemporal.
func startTemporal(ctx context.Context, cli string, opts TemporalOptions) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", port,
		"--namespace", "default", "--log-level", "error",
		"--dynamic-config-value", "frontend.enableServerVersionCheck=false"}
	if opts.UI {
		if opts.UIPort == "" {
			if opts.UIPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
		args = append(args, "--ui-port", opts.UIPort)
	} else {
		args = append(args, "--headless")
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	s := &Server{cmd: exec.Command(cli, args...), exited: make(chan struct{}), hostPort: "127.0.0.1:" + port}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.WaitDelay = time.Second // Wait returns even if something kept the output pipe open
	childproc.DieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: start temporal dev server: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if s.client, err = s.waitReady(ctx); err != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
		return nil, fmt.Errorf("devstack: temporal dev server on %s: %w", s.hostPort, err)
	}
	return s, nil
}

// waitReady dials the server until it answers, it exits, 60 s pass, or ctx ends.
func (s *Server) waitReady(ctx context.Context) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.hostPort, Namespace: "default", Logger: quietLogger{}})
		if err == nil {
			return c, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%w (%v): %w", errExitedAtStart, s.cmd.ProcessState, err)
		case <-ctx.Done():
			return nil, fmt.Errorf("not ready: %w", errors.Join(err, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Temporal starts a dev server for a test and stops it in t.Cleanup. When
// the CLI is missing it skips the test with an install hint, or fails it
// when CI is "true".
func Temporal(t testing.TB) *Server {
	t.Helper()
	srv, err := StartTemporal(context.Background(), TemporalOptions{})
	if errors.Is(err, ErrNoTemporalCLI) && os.Getenv("CI") != "true" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
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
