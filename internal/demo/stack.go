package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redlease/redlease/internal/childproc"
	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease/leasetest"
)

// stack is the demo's local world.
type stack struct {
	redis    *leasetest.Cluster // nodes 0..4: the lease; node 5: the fenced store
	temporal *devstack.Server
	logFile  *os.File // the dev server's output
	workers  []*workerProcess
	dir      string
}

type workerProcess struct {
	name   string
	cmd    *exec.Cmd
	log    string
	traces string
	exited chan struct{}
}

func startStack(ctx context.Context, o options) (*stack, error) {
	s := &stack{dir: o.workDir}
	o.progress("starting 6 redis-server nodes on free loopback ports (5 for the lease, 1 for a fenced store)")
	var err error
	if s.redis, err = leasetest.StartNodes(ctx, 6); err != nil {
		return s, err
	}
	o.progress("starting the Temporal dev server with its web UI (temporal server start-dev)")
	if o.uiPort == "" {
		return s, errors.New("no UI port chosen")
	}
	if s.logFile, err = os.Create(filepath.Join(s.dir, "temporal.log")); err != nil {
		return s, err
	}
	if s.temporal, err = devstack.StartTemporal(ctx, devstack.TemporalOptions{UI: true, UIPort: o.uiPort, Log: s.logFile}); err != nil {
		return s, err
	}
	o.progress("building the worker binary (go build ./worker)")
	bin := filepath.Join(s.dir, "worker")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/redlease/redlease/worker").CombinedOutput(); err != nil {
		return s, fmt.Errorf("build worker: %v\n%s", err, out)
	}
	for _, name := range []string{"worker-a", "worker-b"} {
		o.progress("starting %s", name)
		w, err := s.startWorker(bin, name)
		if err != nil {
			return s, err
		}
		s.workers = append(s.workers, w)
	}
	return s, nil
}

func (s *stack) leaseURLs() string {
	var urls []string
	for _, n := range s.redis.Nodes[:5] {
		urls = append(urls, "redis://"+n.Addr)
	}
	return strings.Join(urls, ",")
}

func (s *stack) startWorker(bin, name string) (*workerProcess, error) {
	w := &workerProcess{
		name:   name,
		log:    filepath.Join(s.dir, name+".log"),
		traces: filepath.Join(s.dir, name+"-traces.json"),
		exited: make(chan struct{}),
	}
	logFile, err := os.Create(w.log)
	if err != nil {
		return nil, err
	}
	traceFile, err := os.Create(w.traces)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(bin,
		"-temporal-address", s.temporal.FrontendHostPort(),
		"-task-queue", taskQueue,
		"-redis", s.leaseURLs(),
		"-store-redis", "redis://"+s.redis.Nodes[5].Addr,
		"-store-name", storeName,
		"-otel-stdout",
		"-log-level", "warn",
	)
	w.cmd.Stdout, w.cmd.Stderr = traceFile, logFile
	childproc.DieWithParent(w.cmd)
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = w.cmd.Wait(); logFile.Close(); traceFile.Close(); close(w.exited) }()
	return w, nil
}

// byPID finds the worker process with pid.
func (s *stack) byPID(pid int) *workerProcess {
	for _, w := range s.workers {
		if w.cmd.Process.Pid == pid {
			return w
		}
	}
	return nil
}

func (w *workerProcess) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
}

// stop ends the workers (SIGTERM, then SIGKILL), the dev server and the nodes.
func (s *stack) stop() error {
	var errs []error
	for _, w := range s.workers {
		select {
		case <-w.exited:
			continue
		default:
		}
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
			w.kill()
		}
	}
	if s.temporal != nil {
		errs = append(errs, s.temporal.Stop())
	}
	if s.logFile != nil {
		errs = append(errs, s.logFile.Close())
	}
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	_ = os.Remove(filepath.Join(s.dir, "worker")) // the binary; logs and traces stay
	return errors.Join(errs...)
}
