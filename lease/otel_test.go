package lease_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Spans and metrics carry the documented names and attributes, and never
// an owner value.
func TestSpansAndMetricsOfALeaseLifecycle(t *testing.T) {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })

	c, _ := newClient(t, 3, lease.WithTracerProvider(tp), lease.WithMeterProvider(mp))
	ctx := context.Background()

	first := mustAcquire(t, c, "traced")
	if _, err := c.Acquire(ctx, "traced"); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("contended acquire: %v", err)
	}
	if err := first.Extend(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// A lease lost to expiry counts as lost.
	short := mustAcquire(t, c, "traced", lease.WithLeaseTTL(600*time.Millisecond))
	<-short.Done()

	ended := spans.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		byName[s.Name()] = append(byName[s.Name()], s)
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), first.Owner()) || strings.Contains(kv.Value.Emit(), short.Owner()) {
				t.Fatalf("span %s attribute %s carries an owner value", s.Name(), kv.Key)
			}
		}
	}
	if len(byName[lease.SpanAcquire]) != 3 || len(byName[lease.SpanExtend]) != 1 || len(byName[lease.SpanRelease]) != 1 {
		t.Fatalf("spans: %d acquire, %d extend, %d release; want 3, 1, 1", len(byName[lease.SpanAcquire]), len(byName[lease.SpanExtend]), len(byName[lease.SpanRelease]))
	}
	acq := attrs(byName[lease.SpanAcquire][0])
	want := map[attribute.Key]string{
		lease.AttrResource: "traced", lease.AttrNodes: "3", lease.AttrQuorum: "2",
		lease.AttrOutcome: lease.OutcomeAcquired, lease.AttrAttempts: "1",
		lease.AttrToken: attribute.Int64Value(first.Token()).Emit(),
	}
	for k, v := range want {
		if acq[k] != v {
			t.Errorf("acquire span %s = %q, want %q (all: %v)", k, acq[k], v, acq)
		}
	}
	for _, k := range []attribute.Key{lease.AttrAcquired, lease.AttrValidity} {
		if acq[k] == "" {
			t.Errorf("acquire span lacks %s", k)
		}
	}
	contended := byName[lease.SpanAcquire][1]
	if attrs(contended)[lease.AttrOutcome] != lease.OutcomeNotAcquired || len(contended.Events()) != 2 {
		// 3 nodes, quorum 2: the round ends at the second "taken".
		t.Errorf("contended acquire span: outcome %q, %d node events; want not_acquired and 2", attrs(contended)[lease.AttrOutcome], len(contended.Events()))
	}
	for _, e := range contended.Events() {
		if e.Name != lease.EventNode {
			t.Errorf("event %q, want %q", e.Name, lease.EventNode)
		}
	}
	if got := attrs(byName[lease.SpanExtend][0]); got[lease.AttrOutcome] != lease.OutcomeExtended || got[lease.AttrConfirmed] == "" || got[lease.AttrToken] == "" {
		t.Errorf("extend span attributes %v", got)
	}
	if got := attrs(byName[lease.SpanRelease][0]); got[lease.AttrOutcome] != lease.OutcomeReleased || got[lease.AttrConfirmed] != "2" { // returns at the quorum of 3 nodes
		t.Errorf("release span attributes %v", got)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					got[m.Name] += int64(p.Count)
				}
			}
		}
	}
	wantCounts := map[string]int64{
		lease.MetricAcquireDuration: 3, lease.MetricAcquireAttempts: 3, lease.MetricContention: 1,
		lease.MetricExtensions: 1, lease.MetricHeldDuration: 2, lease.MetricLost: 1,
	}
	for name, n := range wantCounts {
		if got[name] != n {
			t.Errorf("metric %s = %d, want %d (all: %v)", name, got[name], n, got)
		}
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]string {
	m := map[attribute.Key]string{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value.Emit()
	}
	return m
}

// Scope operations have spans of their own, with the outcome, the token
// of an acquisition, and no owner value; a scope found lost counts as lost.
func TestSpansOfAScope(t *testing.T) {
	spans, reader, c, cluster := observedClient(t)
	ctx := context.Background()
	owner := scopeOwner(t, "h", 1)
	g, err := c.AcquireScope(ctx, "traced", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "traced", owner, time.Second, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveProgress(ctx, "traced", owner, g.Token, "s", 1, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.LoadProgress(ctx, "traced", owner, "s"); err != nil {
		t.Fatal(err)
	}
	for _, n := range cluster.Nodes { // another holder takes the resource
		if err := n.Client.Del(ctx, lockKey("traced")).Err(); err != nil {
			t.Fatal(err)
		}
	}
	mustAcquire(t, c, "traced")
	if _, err := c.AcquireScope(ctx, "traced", owner); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("scope after another holder: %v", err)
	}
	got := map[string][]map[attribute.Key]string{}
	for _, s := range spans.Ended() {
		a := attrs(s)
		for _, v := range a {
			if strings.Contains(v, owner) {
				t.Fatalf("span %s carries the scope's owner value", s.Name())
			}
		}
		got[s.Name()] = append(got[s.Name()], a)
	}
	acq := got[lease.SpanAcquireScope]
	if len(acq) != 2 || acq[0][lease.AttrOutcome] != lease.OutcomeAcquired || acq[0][lease.AttrToken] == "" || acq[1][lease.AttrOutcome] != lease.OutcomeLost {
		t.Fatalf("scope acquire spans %v", acq)
	}
	for name, outcome := range map[string]string{lease.SpanKeepScope: lease.OutcomeExtended, lease.SpanSaveProgress: lease.OutcomeSaved, lease.SpanLoadProgress: lease.OutcomeLoaded} {
		if len(got[name]) != 1 || got[name][0][lease.AttrOutcome] != outcome {
			t.Errorf("%s spans %v, want one with outcome %s", name, got[name], outcome)
		}
	}
	if lost := counterSum(t, reader, lease.MetricLost); lost != 1 {
		t.Fatalf("%s = %d, want 1", lease.MetricLost, lost)
	}
}

// observedClient is a Client on 3 nodes whose spans and metrics are recorded.
func observedClient(t *testing.T) (*tracetest.SpanRecorder, *sdkmetric.ManualReader, *lease.Client, *leasetest.Cluster) {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) })
	c, cluster := newClient(t, 3, lease.WithTracerProvider(tp), lease.WithMeterProvider(mp))
	return spans, reader, c, cluster
}

// Clients on the default providers: one created before the application
// installs its OpenTelemetry SDK records nothing until then and everything
// from that moment; one created after it records from the start. (The only
// test of the package that sets the global providers: OpenTelemetry's
// default global provider forwards to the first SDK installed, once.)
func TestTelemetryFlowsWhenAnSDKIsInstalledBeforeOrAfterNew(t *testing.T) {
	early, _ := newClient(t, 1)
	ctx := context.Background()
	if err := mustAcquire(t, early, "early").Release(ctx); err != nil {
		t.Fatal(err)
	}
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	late, _ := newClient(t, 1)
	for _, c := range []*lease.Client{early, late} {
		before := len(spans.Ended())
		if err := mustAcquire(t, c, "sdk").Release(ctx); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range spans.Ended()[before:] {
			names = append(names, s.Name())
		}
		if !slices.Contains(names, lease.SpanAcquire) || !slices.Contains(names, lease.SpanRelease) {
			t.Fatalf("spans after the SDK was installed (client created %s it): %v", map[bool]string{true: "before", false: "after"}[c == early], names)
		}
	}
	if attempts := counterSum(t, reader, lease.MetricAcquireAttempts); attempts != 2 {
		t.Fatalf("%d acquisition attempts measured after the SDK was installed, want 2 (one per client)", attempts)
	}
}
