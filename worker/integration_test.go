package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redlease/redlease/internal/childproc"
	"github.com/redlease/redlease/internal/devstack"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/workflows"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
)

// TestEndToEnd runs the worker against a real Temporal dev server and
// three real redis-server nodes: first built in-process with the binary's
// construction functions and an in-memory span exporter, then as the
// binary itself.
func TestEndToEnd(t *testing.T) {
	srv := devstack.Temporal(t) // its cleanup closes the client, then stops the server
	cluster := leasetest.Start(t, 3)
	urls := make([]string, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		urls[i] = "redis://" + n.Addr
	}
	base := []string{
		"-temporal-address", srv.FrontendHostPort(),
		"-redis", strings.Join(urls, ","),
		"-store-redis", "redis://" + cluster.Nodes[0].Addr,
	}

	t.Run("in-process: lease spans nest under RunActivity", func(t *testing.T) {
		testInProcess(t, srv.Client(), cluster, base)
	})
	t.Run("binary: runs the job, exports spans to stdout, drains on SIGTERM", func(t *testing.T) {
		testBinary(t, srv.Client(), cluster, base)
	})
	t.Run("in-process over mutual TLS with a private CA and a server name", func(t *testing.T) {
		files, err := leasetest.GenerateTLS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		tlsCluster := leasetest.StartTLS(t, 3, leasetest.TLSNode{Files: files, ClientCerts: true})
		urls := make([]string, len(tlsCluster.Nodes))
		for i, n := range tlsCluster.Nodes {
			urls[i] = "rediss://" + n.TLSAddr
		}
		testInProcess(t, srv.Client(), tlsCluster, []string{
			"-temporal-address", srv.FrontendHostPort(),
			"-redis", strings.Join(urls, ","),
			"-store-redis", "rediss://" + tlsCluster.Nodes[0].TLSAddr,
			"-redis-tls-ca", files.CA,
			"-redis-tls-cert", files.ClientCert,
			"-redis-tls-key", files.ClientKey,
			"-redis-tls-server-name", leasetest.ServerName,
			"-node-timeout", "1s", // a connection's first request carries the TLS handshake
		})
	})
}

// jobRequest is the ExclusiveJob of the sample, on resource.
func jobRequest(resource string, steps int, stepDuration time.Duration) workflows.JobRequest {
	return workflows.JobRequest{
		Resource: resource,
		Activity: exclusivejob.StepsName,
		Input:    exclusivejob.StepsInput{Steps: steps, StepDuration: stepDuration},
		Lease:    workflows.LeaseOptions{TTL: 10 * time.Second, HeartbeatTimeout: 3 * time.Second},
	}
}

func testInProcess(t *testing.T, tc client.Client, cluster *leasetest.Cluster, base []string) {
	taskQueue := fmt.Sprintf("worker-inprocess-%d", time.Now().UnixNano())
	storeName := taskQueue
	cfg, err := parseConfig(append(base, "-task-queue", taskQueue, "-store-name", storeName), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	mp := sdkmetric.NewMeterProvider()
	defer func() {
		if err := errors.Join(tp.Shutdown(context.Background()), mp.Shutdown(context.Background())); err != nil {
			t.Error(err)
		}
	}()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	svc, err := newServices(ctx, cfg, logger, tp, mp, func(err error) { t.Errorf("worker fatal error: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.worker.Start(); err != nil {
		t.Fatal(errors.Join(err, svc.close()))
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			svc.worker.Stop()
			if err := svc.close(); err != nil {
				t.Error(err)
			}
		}
	}
	defer stop()

	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, workflows.ExclusiveJobName,
		jobRequest("r", 2, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var result exclusivejob.StepsResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	stop() // every activity has ended: its spans too

	if result.Steps != 2 || result.ResumedAt != 0 || result.Attempt != 1 || result.Token <= 0 || result.WorkflowID != run.GetID() {
		t.Errorf("result %+v: want 2 steps from step 0 by attempt 1 of %s with a positive token", result, run.GetID())
	}
	log, err := fencedstore.New(cluster.Nodes[0].Client, storeName).Log(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Token != result.Token || log[1].Holder != run.GetID() {
		t.Errorf("fenced store log %+v: want the 2 steps written with token %d by %s", log, result.Token, run.GetID())
	}
	if _, err := fencedstore.Check(log); err != nil {
		t.Error(err)
	}

	stubs := spans.GetSpans()
	byID := make(map[string]tracetest.SpanStub, len(stubs))
	for _, s := range stubs {
		byID[s.SpanContext.SpanID().String()] = s
	}
	acquires := 0
	for _, s := range stubs {
		if s.Name != lease.SpanAcquireScope {
			continue
		}
		acquires++
		parent, ok := byID[s.Parent.SpanID().String()]
		switch {
		case !s.Parent.IsValid():
			t.Errorf("%s span has no parent", s.Name)
		case !ok:
			t.Errorf("%s span's parent %s was not recorded", s.Name, s.Parent.SpanID())
		case !strings.HasPrefix(parent.Name, "RunActivity"):
			t.Errorf("%s span's parent is %q, want RunActivity:...", s.Name, parent.Name)
		case parent.SpanContext.TraceID() != s.SpanContext.TraceID():
			t.Errorf("%s span is in trace %s, its parent in %s", s.Name, s.SpanContext.TraceID(), parent.SpanContext.TraceID())
		default:
			t.Logf("%s under %s", s.Name, parent.Name)
		}
	}
	// AcquireLease acquires, then FencedSteps takes a fresh token for the scope.
	if acquires < 2 {
		t.Errorf("%d %s spans, want at least 2 (AcquireLease, then the section); spans: %v", acquires, lease.SpanAcquireScope, spanNames(stubs))
	}
}

func spanNames(stubs tracetest.SpanStubs) []string {
	names := make([]string, len(stubs))
	for i, s := range stubs {
		names[i] = s.Name
	}
	return names
}

// syncBuffer is a bytes.Buffer safe for the process's writer goroutine
// and the test reading it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testBinary(t *testing.T, tc client.Client, cluster *leasetest.Cluster, base []string) {
	bin := buildWorker(t)
	taskQueue := fmt.Sprintf("worker-binary-%d", time.Now().UnixNano())
	storeName := taskQueue
	cmd := exec.Command(bin, append(base, "-task-queue", taskQueue, "-store-name", storeName, "-otel-stdout")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "OTEL_SERVICE_NAME=worker-under-test"}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	childproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // ends when the process does
	reaped := false
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("worker stderr:\n%s", stderr.String())
		}
	}()
	waitFor(t, 30*time.Second, "the worker's start line", func() bool { return strings.Contains(stderr.String(), "worker started") })
	if line := stderr.String(); !strings.Contains(line, "task_queue="+taskQueue) || !strings.Contains(line, "store="+storeName+"@"+cluster.Nodes[0].Addr) {
		t.Errorf("start line lacks the task queue or store:\n%s", line)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store := fencedstore.New(cluster.Nodes[0].Client, storeName)

	// A short job runs to completion through the binary.
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, workflows.ExclusiveJobName,
		jobRequest("short", 2, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var result exclusivejob.StepsResult
	if err := run.Get(ctx, &result); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if result.Steps != 2 || result.WorkflowID != run.GetID() {
		t.Errorf("result %+v", result)
	}

	// A long job is running when SIGTERM arrives: the worker waits for it.
	const steps = 15
	long, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: taskQueue}, workflows.ExclusiveJobName,
		jobRequest("long", steps, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	written := func(holder string) int {
		entries, err := store.Log(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			if e.Holder == holder {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "the long job's first step", func() bool { return written(long.GetID()) > 0 })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		reaped = true
		if err != nil {
			t.Fatalf("worker exited with %v after SIGTERM, want status 0", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("worker still running 45 s after SIGTERM")
	}
	if n := written(long.GetID()); n != steps {
		t.Errorf("the running job wrote %d of %d steps before the worker exited: it was not drained", n, steps)
	}
	if !strings.Contains(stderr.String(), "worker stopped") {
		t.Errorf("no shutdown line on stderr:\n%s", stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{`"Name":"` + lease.SpanAcquireScope + `"`, `"Name":"RunActivity:` + exclusivejob.StepsName + `"`, `"Value":"worker-under-test"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout spans lack %s", want)
		}
	}
	if err := tc.CancelWorkflow(ctx, long.GetID(), ""); err != nil { // nothing polls its queue any more
		t.Logf("cancel the long job: %v", err)
	}
}
