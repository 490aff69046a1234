package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/permitpool"
	"github.com/redlease/redlease/workflows"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
)

// instrumentationName names the worker's tracer and meter.
const instrumentationName = "github.com/redlease/redlease/worker"

// temporalClientOptions are the client options of the worker: its logger,
// and OpenTelemetry through the SDK's contrib package: the tracing
// interceptor, which starts a RunActivity span around each activity and
// puts it in the activity's context (so the lease spans nest under it),
// and the metrics handler.
// stickyScheduleToStartTimeout bounds how long a workflow task waits on a
// dead worker's sticky queue (see worker.Options).
const stickyScheduleToStartTimeout = time.Second

func temporalClientOptions(cfg Config, logger *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (client.Options, error) {
	tracing, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer: tp.Tracer(instrumentationName),
	})
	if err != nil {
		return client.Options{}, fmt.Errorf("temporal tracing interceptor: %w", err)
	}
	metrics := temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter: mp.Meter(instrumentationName),
		// Without OnError the handler panics when the meter fails.
		OnError: func(err error) { logger.Warn("temporal metrics", "error", err) },
	})
	return client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.Namespace,
		Logger:         tlog.NewStructuredLogger(logger),
		Interceptors:   []interceptor.ClientInterceptor{tracing}, // also a worker interceptor: applies to workers of this client
		MetricsHandler: metrics,
	}, nil
}

// dialTemporal connects to the Temporal frontend, giving up after
// cfg.ConnectTimeout (or when ctx ends).
func dialTemporal(ctx context.Context, cfg Config, opts client.Options) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to Temporal at %s (namespace %q, -connect-timeout %v): %w",
			cfg.TemporalAddress, cfg.Namespace, cfg.ConnectTimeout, err)
	}
	return c, nil
}

// newTemporalWorker creates the worker on cfg.TaskQueue and registers the
// lease activities, the workflows and, when sample is not nil, the samples
// (the exclusive job and the permit pool). onFatal is called (once) if the worker stops on its own.
func newTemporalWorker(c client.Client, cfg Config, leases *activities.Activities, sample *samples, onFatal func(error)) worker.Worker {
	w := worker.New(c, cfg.TaskQueue, worker.Options{
		WorkerStopTimeout: cfg.ShutdownTimeout,
		OnFatalError:      onFatal,
		// After a worker dies, the workflow tasks it had cached wait this
		// long on its sticky queue before another worker gets them; the
		// lease's release is one of them. 1 s instead of the SDK's 5 s.
		StickyScheduleToStartTimeout: stickyScheduleToStartTimeout,
	})
	leases.Register(w)
	workflows.Register(w)
	if sample != nil {
		sample.job.Register(w)
		exclusivejob.RegisterWorkflows(w)
		sample.pool.Register(w)
		permitpool.RegisterWorkflows(w)
	}
	return w
}

// samples are the sample activities a worker with a store registers.
type samples struct {
	job  *exclusivejob.Activities
	pool *permitpool.Activities
}
