package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/childproc"
	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease/leasetest"
	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/samples/permitpool"
	"github.com/redlease/redlease/workflows"
	"go.temporal.io/sdk/worker"
)

// stack is one test's world: a dev server, 5 lease nodes, a store node,
// and the worker processes started on it.
type stack struct {
	t        *testing.T
	cli      string
	address  string
	nodes    *leasetest.Cluster
	storeURL string
	store    *fencedstore.Store
	pool     *permitpool.Pool // the permit pool sample's API, under the same name
	storeKey string           // the store's name, given to the workers
	queue    string
	worker   string // binary
}

var (
	buildOnce   sync.Once
	workerDir   string // removed by TestMain
	workerBin   string
	buildErr    error
	buildOutput []byte
)

// workerBinary builds ./worker once per test run.
func workerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "redlease-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		workerDir, workerBin = dir, filepath.Join(dir, "worker")
		cmd := exec.Command("go", "build", "-race", "-o", workerBin, "../worker")
		buildOutput, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build worker: %v\n%s", buildErr, buildOutput)
	}
	return workerBin
}

func newStack(t *testing.T, store string) *stack {
	t.Helper()
	srv := devstack.Temporal(t)
	cli, err := devstack.TemporalCLI()
	if err != nil {
		t.Fatal(err)
	}
	nodes := leasetest.Start(t, 5)
	storeNode := leasetest.Start(t, 1).Nodes[0]
	return &stack{
		t:        t,
		cli:      cli,
		address:  srv.FrontendHostPort(),
		nodes:    nodes,
		storeURL: "redis://" + storeNode.Addr,
		store:    fencedstore.New(storeNode.Client, store),
		pool:     permitpool.New(storeNode.Client, store),
		storeKey: store,
		queue:    "e2e-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")),
		worker:   workerBinary(t),
	}
}

// workerProc is a worker process.
type workerProc struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startWorker starts a worker process on the stack's task queue.
func (s *stack) startWorker(name string) *workerProc {
	s.t.Helper()
	var urls []string
	for _, n := range s.nodes.Nodes {
		urls = append(urls, "redis://"+n.Addr)
	}
	logPath := filepath.Join(s.t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.worker,
		"-temporal-address", s.address,
		"-task-queue", s.queue,
		"-redis", strings.Join(urls, ","),
		"-store-redis", s.storeURL,
		"-store-name", s.storeKey,
		"-node-timeout", "200ms",
		"-shutdown-timeout", "5s",
		"-log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	childproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	w := &workerProc{cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(w.exited) }()
	s.t.Cleanup(func() {
		w.stop()
		if s.t.Failed() {
			out, _ := os.ReadFile(logPath)
			s.t.Logf("worker %s log:\n%s", name, tail(string(out), 3000))
		}
	})
	return w
}

// stop sends SIGTERM and waits up to 15 s, then SIGKILL.
func (w *workerProc) stop() {
	select {
	case <-w.exited:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

func (w *workerProc) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
}

func (w *workerProc) signal(sig syscall.Signal) error { return w.cmd.Process.Signal(sig) }

// waitPolling waits until the task queue lists this worker (the SDK's
// default identity starts with the process id) among its activity
// pollers.
func (w *workerProc) waitPolling(t *testing.T, s *stack) {
	t.Helper()
	if err := w.polling(s); err != nil {
		t.Fatal(err)
	}
}

// polling is waitPolling for code off the test goroutine: it returns an
// error after 30 s instead of failing the test.
func (w *workerProc) polling(s *stack) error {
	identity := fmt.Sprintf(`"%d@`, w.cmd.Process.Pid)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		out, err := s.temporalErr("task-queue", "describe", "--task-queue", s.queue, "--task-queue-type", "activity", "-o", "json")
		if err == nil && strings.Contains(string(out), identity) {
			return nil
		}
	}
	return fmt.Errorf("worker %d never polled the task queue within 30s", w.cmd.Process.Pid)
}

// temporal runs the CLI against the stack's server and returns stdout.
func (s *stack) temporal(args ...string) []byte {
	s.t.Helper()
	out, err := s.temporalErr(args...)
	if err != nil {
		s.t.Fatalf("temporal %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (s *stack) temporalErr(args ...string) ([]byte, error) {
	return s.temporalWithin(2*time.Minute, args...)
}

// temporalWithin is temporalErr with the CLI given up to d.
func (s *stack) temporalWithin(d time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cli, append(args, "--address", s.address, "--namespace", "default")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%w: %s%s", err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// startJob starts an ExclusiveJob workflow through the CLI.
func (s *stack) startJob(id string, req any) { s.startWorkflow(workflows.ExclusiveJobName, id, req) }

// startWorkflow starts a workflow of type typ through the CLI.
func (s *stack) startWorkflow(typ, id string, req any) {
	s.t.Helper()
	input, err := json.Marshal(req)
	if err != nil {
		s.t.Fatal(err)
	}
	s.temporal("workflow", "start", "--type", typ, "--task-queue", s.queue,
		"--workflow-id", id, "--input", string(input), "-o", "json")
}

// executeJob runs an ExclusiveJob workflow to its end through `temporal
// workflow execute -o json` and returns its status and result.
func (s *stack) executeJob(id string, req any) (status string, result json.RawMessage) {
	s.t.Helper()
	input, err := json.Marshal(req)
	if err != nil {
		s.t.Fatal(err)
	}
	out, err := s.temporalErr("workflow", "execute", "--type", "redlease.ExclusiveJob", "--task-queue", s.queue,
		"--workflow-id", id, "--input", string(input), "-o", "json")
	var r struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		s.t.Fatalf("workflow execute %s: %v / %v: %s", id, err, jerr, out)
	}
	return r.Status, r.Result
}

// result waits for a workflow through `temporal workflow result` and
// returns its status (COMPLETED, FAILED, CANCELED, ...), its result, and
// its close event (which carries any failure).
func (s *stack) result(id string) (status string, result json.RawMessage, closeEvent string) {
	s.t.Helper()
	return s.resultWithin(id, 2*time.Minute)
}

// resultWithin is result, waiting up to d for the workflow to close.
func (s *stack) resultWithin(id string, d time.Duration) (status string, result json.RawMessage, closeEvent string) {
	s.t.Helper()
	out, err := s.temporalWithin(d, "workflow", "result", "--workflow-id", id, "-o", "json")
	var r struct {
		Status     string          `json:"status"`
		Result     json.RawMessage `json:"result"`
		CloseEvent json.RawMessage `json:"closeEvent"`
	}
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		s.t.Fatalf("workflow result %s: %v / %v: %s", id, err, jerr, out)
	}
	return r.Status, r.Result, string(r.CloseEvent)
}

// describe returns `temporal workflow describe -o json` decoded loosely.
func (s *stack) describe(id string) map[string]any {
	s.t.Helper()
	out := s.temporal("workflow", "describe", "--workflow-id", id, "-o", "json")
	var d map[string]any
	if err := json.Unmarshal(out, &d); err != nil {
		s.t.Fatalf("describe %s: %v: %s", id, err, out)
	}
	return d
}

// lockValue reads the lease's lock key on node i ("" when absent).
func (s *stack) lockValue(i int, resource string) string {
	v, err := s.nodes.Nodes[i].Client.Get(context.Background(), "redlease:{"+resource+"}:lock").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.t.Fatalf("node %d: %v", i, err)
	}
	return v
}

// lockedNodes counts nodes where resource is locked. A release tombstone
// (a value ending in '#', left by ReleaseLease) is not a lock.
func (s *stack) lockedNodes(resource string) int {
	n := 0
	for i := range s.nodes.Nodes {
		if v := s.lockValue(i, resource); v != "" && !strings.HasSuffix(v, "#") {
			n++
		}
	}
	return n
}

// tombstones counts nodes holding a release tombstone on resource.
func (s *stack) tombstones(resource string) int {
	n := 0
	for i := range s.nodes.Nodes {
		if strings.HasSuffix(s.lockValue(i, resource), "#") {
			n++
		}
	}
	return n
}

// logEntries reads the fenced store's log.
func (s *stack) logEntries() []fencedstore.Entry {
	s.t.Helper()
	entries, err := s.store.Log(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return entries
}

// waitFor polls cond every 50 ms until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// replay fetches a closed workflow's history with `temporal workflow show
// -o json` and replays it against this module's workflow code: the code is
// deterministic for that history (no nondeterminism error).
func (s *stack) replay(id string) {
	s.t.Helper()
	path := filepath.Join(s.t.TempDir(), id+"-history.json")
	if err := os.WriteFile(path, s.temporal("workflow", "show", "--workflow-id", id, "-o", "json"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	exclusivejob.RegisterWorkflows(replayer)
	permitpool.RegisterWorkflows(replayer)
	if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, path); err != nil {
		s.t.Fatalf("replay of %s: %v", id, err)
	}
}
