package lease

import (
	"context"
	"errors"
	"reflect"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// instrumentationName names the tracer and meter of this package.
const instrumentationName = "github.com/redlease/redlease/lease"

// Span and metric names, and attribute keys. Owner values and Redis
// credentials are never recorded; resource names appear on spans only
// (metrics carry low-cardinality attributes).
const (
	SpanAcquire = "redlease.acquire"
	SpanExtend  = "redlease.extend"
	SpanRelease = "redlease.release"
	// Scope leases (scope.go); ReleaseScope records a SpanRelease.
	SpanAcquireScope = "redlease.scope.acquire"
	SpanKeepScope    = "redlease.scope.keep"
	SpanSaveProgress = "redlease.scope.save_progress"
	SpanLoadProgress = "redlease.scope.load_progress"
	// EventNode is a span event per node that did not succeed in a round.
	EventNode = "redlease.node"

	AttrResource  = attribute.Key("redlease.resource")
	AttrToken     = attribute.Key("redlease.token")
	AttrNodes     = attribute.Key("redlease.nodes")
	AttrQuorum    = attribute.Key("redlease.quorum")
	AttrAcquired  = attribute.Key("redlease.acquired")  // nodes that granted the lock in the last attempt
	AttrConfirmed = attribute.Key("redlease.confirmed") // nodes that confirmed an extension or release
	AttrValidity  = attribute.Key("redlease.validity")  // milliseconds of validity left when acquired or extended
	AttrAttempts  = attribute.Key("redlease.attempts")
	AttrOutcome   = attribute.Key("redlease.outcome")
	AttrNode      = attribute.Key("redlease.node")      // node index
	AttrNodeAddr  = attribute.Key("redlease.node.addr") // host:port
	AttrNodeError = attribute.Key("redlease.node.error")
	// AttrNodeGuardedUntil is when a guarded node grants again: Unix time in
	// milliseconds, on a node event whose error is ErrNodeGuarded.
	AttrNodeGuardedUntil = attribute.Key("redlease.node.guarded_until")
	// AttrNodeGuard is the restart guard a node requires, in milliseconds,
	// on a node event whose error is ErrGuardMismatch.
	AttrNodeGuard = attribute.Key("redlease.node.guard")

	MetricAcquireDuration = "redlease.acquire.duration"    // histogram, s, by outcome
	MetricAcquireAttempts = "redlease.acquire.attempts"    // counter, by outcome of each attempt
	MetricContention      = "redlease.acquire.contended"   // counter: attempts that found the lock held
	MetricHeldDuration    = "redlease.lease.held.duration" // histogram, s, by how the lease ended (released, lost, detached)
	MetricExtensions      = "redlease.extend.count"        // counter, by outcome
	MetricLost            = "redlease.lease.lost"          // counter
	// MetricHandedOn counts releases that handed the lock to a waiting
	// Acquire of the same Client (see Lease.Release).
	MetricHandedOn = "redlease.release.handed_on"
	// MetricNodeGuarded counts acquisition replies from a node in its
	// restart guard, by node index (redlease.node).
	MetricNodeGuarded = "redlease.node.guarded"
	// MetricNodeGuardedUntil is a gauge, by node index: the Unix time (s)
	// at which the node's restart guard ends, as last reported by the node.
	// A time in the past means the guard is over.
	MetricNodeGuardedUntil = "redlease.node.guarded_until"
	// MetricPermitsHeld is an up-down counter, by limit
	// (redlease.permit.limit): the permits this Client holds now
	// (AcquirePermit, from the acquisition until the permit ends). Summed
	// over processes and divided by the limit, it is the share of permits
	// in use. Permit scopes (AcquirePermitScope) live across processes
	// and are not counted; resources are not an attribute (see above).
	MetricPermitsHeld = "redlease.permit.held"
)

// Outcomes recorded in AttrOutcome.
const (
	OutcomeAcquired    = "acquired"
	OutcomeNotAcquired = "not_acquired"
	OutcomeCancelled   = "cancelled"
	OutcomeInvalid     = "invalid_input"
	OutcomeClosed      = "closed"
	OutcomeExtended    = "extended"
	OutcomeNotExtended = "not_extended"
	OutcomeLost        = "lost"
	OutcomeReleased    = "released"
	OutcomeNotReleased = "not_released"
	OutcomeDetached    = "detached"
	OutcomeScopeEnded  = "scope_ended" // a scope operation found the scope released
	OutcomeNotStarted  = "not_started" // a keep found no node that knows the scope yet
	OutcomeSaved       = "saved"
	OutcomeNotSaved    = "not_saved"
	OutcomeLoaded      = "loaded"
)

// WithTracerProvider sets where spans go. Default: otel.GetTracerProvider()
// (a no-op until the application installs a provider; until then spans
// are not even created).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return invalid("tracer provider", "nil")
		}
		c.tracerProvider = tp
		return nil
	}
}

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider()
// (a no-op until the application installs a provider; until then nothing
// is measured).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return invalid("meter provider", "nil")
		}
		c.meterProvider = mp
		return nil
	}
}

// observer holds the tracer and instruments of one Client.
type observer struct {
	tracer          trace.Tracer
	acquireDuration metric.Float64Histogram
	attempts        metric.Int64Counter
	contention      metric.Int64Counter
	held            metric.Float64Histogram
	extensions      metric.Int64Counter
	lost            metric.Int64Counter
	handedOn        metric.Int64Counter
	guardedReplies  metric.Int64Counter
	guardedUntil    metric.Float64Gauge
	permitsHeld     metric.Int64UpDownCounter
	nodeAttrs       []attribute.KeyValue // redlease.nodes, redlease.quorum
	// globalTP and globalMP are OpenTelemetry's default global providers,
	// when no provider was given and the application had installed none at
	// New. While they are still the global ones, spans and metrics would go
	// nowhere: they are skipped, which saves their allocations. Once the
	// application installs a provider, the instruments forward to it and
	// are used. A provider installed before New is used from the start.
	globalTP trace.TracerProvider
	globalMP metric.MeterProvider
}

// tracing reports whether spans can go anywhere.
func (o *observer) tracing() bool { return o.globalTP == nil || otel.GetTracerProvider() != o.globalTP }

// metering reports whether measurements can go anywhere.
func (o *observer) metering() bool { return o.globalMP == nil || otel.GetMeterProvider() != o.globalMP }

// isOtelDefault reports whether p is OpenTelemetry's default global
// provider, which forwards to nothing until the application installs one.
func isOtelDefault(p any) bool {
	t := reflect.TypeOf(p)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// spanKindClient is the start option of every span, built once.
var spanKindClient = trace.WithSpanKind(trace.SpanKindClient)

// noSpan is what start returns while spans go nowhere: it records nothing.
var noSpan = trace.SpanFromContext(context.Background())

func newObserver(cfg config, nodes, quorum int) (*observer, error) {
	tp, mp := cfg.tracerProvider, cfg.meterProvider
	var globalTP trace.TracerProvider
	var globalMP metric.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
		if isOtelDefault(tp) {
			globalTP = tp
		}
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
		if isOtelDefault(mp) {
			globalMP = mp
		}
	}
	meter := mp.Meter(instrumentationName)
	o := &observer{
		tracer:    tp.Tracer(instrumentationName),
		nodeAttrs: []attribute.KeyValue{AttrNodes.Int(nodes), AttrQuorum.Int(quorum)},
		globalTP:  globalTP,
		globalMP:  globalMP,
	}
	var err error
	seconds := metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
	if o.acquireDuration, err = meter.Float64Histogram(MetricAcquireDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of Acquire calls, waiting included"), seconds); err != nil {
		return nil, err
	}
	if o.attempts, err = meter.Int64Counter(MetricAcquireAttempts,
		metric.WithDescription("Acquisition rounds tried, by outcome")); err != nil {
		return nil, err
	}
	if o.contention, err = meter.Int64Counter(MetricContention,
		metric.WithDescription("Acquisition rounds that found the lock held by another owner")); err != nil {
		return nil, err
	}
	if o.held, err = meter.Float64Histogram(MetricHeldDuration, metric.WithUnit("s"),
		metric.WithDescription("How long leases lived, by how they ended"), seconds); err != nil {
		return nil, err
	}
	if o.extensions, err = meter.Int64Counter(MetricExtensions,
		metric.WithDescription("Extensions, by outcome")); err != nil {
		return nil, err
	}
	if o.lost, err = meter.Int64Counter(MetricLost,
		metric.WithDescription("Leases that ended lost rather than released")); err != nil {
		return nil, err
	}
	if o.handedOn, err = meter.Int64Counter(MetricHandedOn,
		metric.WithDescription("Releases that handed the lock to a waiting Acquire of the same client")); err != nil {
		return nil, err
	}
	if o.guardedReplies, err = meter.Int64Counter(MetricNodeGuarded,
		metric.WithDescription("Acquisition replies from a node in its restart guard, by node")); err != nil {
		return nil, err
	}
	if o.permitsHeld, err = meter.Int64UpDownCounter(MetricPermitsHeld,
		metric.WithDescription("Permits this client holds now, by permit limit")); err != nil {
		return nil, err
	}
	if o.guardedUntil, err = meter.Float64Gauge(MetricNodeGuardedUntil, metric.WithUnit("s"),
		metric.WithDescription("Unix time at which a node's restart guard ends, by node")); err != nil {
		return nil, err
	}
	return o, nil
}

// outcomeSets are precomputed so recording a metric does not allocate.
var outcomeSets = func() map[string]metric.MeasurementOption {
	m := make(map[string]metric.MeasurementOption)
	for _, o := range []string{OutcomeAcquired, OutcomeNotAcquired, OutcomeCancelled, OutcomeInvalid, OutcomeClosed,
		OutcomeExtended, OutcomeNotExtended, OutcomeLost, OutcomeReleased, OutcomeNotReleased, OutcomeDetached,
		OutcomeScopeEnded, OutcomeNotStarted, OutcomeSaved, OutcomeNotSaved, OutcomeLoaded} {
		m[o] = metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String(o)))
	}
	return m
}()

func (o *observer) start(ctx context.Context, name, resource string) (context.Context, trace.Span) {
	if !o.tracing() {
		return ctx, noSpan
	}
	ctx, span := o.tracer.Start(ctx, name, spanKindClient)
	if span.IsRecording() {
		span.SetAttributes(AttrResource.String(resource))
		span.SetAttributes(o.nodeAttrs...)
	}
	return ctx, span
}

// acquireDone ends an acquisition's span and records its duration: the
// outcome, attempts, nodes granted in the last attempt, a node event per
// failed node, and for an acquired lease its token and validity left.
func (o *observer) acquireDone(ctx context.Context, span trace.Span, start time.Time, err error, stats acquireStats, l *Lease, extra ...attribute.KeyValue) {
	outcome := acquireOutcome(ctx, err)
	o.acquired(ctx, start, outcome)
	if !span.IsRecording() {
		span.End()
		return
	}
	attrs := append([]attribute.KeyValue{AttrAttempts.Int(stats.attempts), AttrAcquired.Int(stats.granted)}, extra...)
	if l != nil {
		attrs = append(attrs, AttrToken.Int64(l.token), AttrValidity.Int64(time.Until(l.ValidUntil()).Milliseconds()))
	}
	var na *NotAcquiredError
	if errors.As(err, &na) {
		nodeEvents(span, na.Nodes)
	}
	finish(span, outcome, err, attrs...)
}

// finish ends span with outcome, marking errors other than the expected
// "not acquired" as span errors.
func finish(span trace.Span, outcome string, err error, attrs ...attribute.KeyValue) {
	if span.IsRecording() {
		span.SetAttributes(attrs...)
		span.SetAttributes(AttrOutcome.String(outcome))
		if err != nil && outcome != OutcomeNotAcquired {
			span.RecordError(err)
			span.SetStatus(codes.Error, outcome)
		}
	}
	span.End()
}

// nodeEvents adds an event per failed node.
func nodeEvents(span trace.Span, nodes []*NodeError) {
	if !span.IsRecording() {
		return
	}
	for _, ne := range nodes {
		attrs := []attribute.KeyValue{AttrNode.Int(ne.Node), AttrNodeAddr.String(ne.Addr), AttrNodeError.String(ne.Err.Error())}
		switch {
		case !ne.GuardedUntil.IsZero():
			attrs = append(attrs, AttrNodeGuardedUntil.Int64(ne.GuardedUntil.UnixMilli()))
		case ne.Guard > 0:
			attrs = append(attrs, AttrNodeGuard.Int64(ne.Guard.Milliseconds()))
		}
		span.AddEvent(EventNode, trace.WithAttributes(attrs...))
	}
}

// guarded records a reply from a node in its restart guard, which ends
// after remaining.
// permitHeld adds delta to the permits held of that limit.
func (o *observer) permitHeld(ctx context.Context, limit int, delta int64) {
	if o.metering() {
		o.permitsHeld.Add(ctx, delta, metric.WithAttributes(AttrPermitLimit.Int(limit)))
	}
}

// handedOff counts a release that handed the lock on.
func (o *observer) handedOff(ctx context.Context) {
	if o.metering() {
		o.handedOn.Add(ctx, 1)
	}
}

func (o *observer) guarded(ctx context.Context, node int, remaining time.Duration) {
	set := metric.WithAttributeSet(attribute.NewSet(AttrNode.Int(node)))
	o.guardedReplies.Add(ctx, 1, set)
	o.guardedUntil.Record(ctx, float64(time.Now().Add(remaining).UnixMilli())/1000, set)
}

func (o *observer) attempt(ctx context.Context, outcome string, contended bool) {
	if !o.metering() {
		return
	}
	o.attempts.Add(ctx, 1, outcomeSets[outcome])
	if contended {
		o.contention.Add(ctx, 1)
	}
}

func (o *observer) acquired(ctx context.Context, start time.Time, outcome string) {
	if !o.metering() {
		return
	}
	o.acquireDuration.Record(ctx, time.Since(start).Seconds(), outcomeSets[outcome])
}

func (o *observer) extended(ctx context.Context, outcome string) {
	if !o.metering() {
		return
	}
	o.extensions.Add(ctx, 1, outcomeSets[outcome])
}

func (o *observer) ended(held time.Duration, cause error) {
	if !o.metering() {
		return
	}
	ctx := context.Background()
	outcome := OutcomeReleased
	switch cause {
	case ErrLost:
		outcome = OutcomeLost
		o.lost.Add(ctx, 1)
	case ErrDetached:
		outcome = OutcomeDetached
	}
	o.held.Record(ctx, held.Seconds(), outcomeSets[outcome])
}

// acquireOutcome classifies an Acquire error.
func acquireOutcome(ctx context.Context, err error) string {
	return scopeOutcome(ctx, err, OutcomeAcquired, OutcomeNotAcquired)
}
