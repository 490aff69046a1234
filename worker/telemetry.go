package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// defaultServiceName is service.name unless OTEL_SERVICE_NAME (or
// OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const defaultServiceName = "redlease-worker"

// Telemetry is the worker's OpenTelemetry SDK: a tracer and a meter
// provider, always installed (so spans nest and carry trace ids even when
// nothing is exported), with the exporters cfg chose.
type Telemetry struct {
	TracerProvider *sdktrace.TracerProvider
	MeterProvider  *sdkmetric.MeterProvider
	// Exporters describes where spans and metrics go, for the start log.
	Exporters []string
}

// newTelemetry builds the providers: OTLP traces and metrics over
// cfg.TracesOTLP and cfg.MetricsOTLP (the exporters read the rest of the
// OTEL_EXPORTER_OTLP_* variables themselves: endpoint, headers, TLS,
// timeout...), and spans as JSON lines on stdout with cfg.OTelStdout.
// Exporters connect lazily: nothing here waits for a collector.
func newTelemetry(ctx context.Context, cfg Config, stdout io.Writer) (*Telemetry, error) {
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", defaultServiceName)),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("opentelemetry resource: %w", err)
	}
	t := &Telemetry{}
	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	metricOpts := []sdkmetric.Option{sdkmetric.WithResource(res)}

	// Exporters first, then the batchers (which start goroutines), so that
	// a failed exporter leaves nothing running.
	var spanExporters []sdktrace.SpanExporter
	switch cfg.TracesOTLP {
	case "grpc", "http/protobuf":
		var exp sdktrace.SpanExporter
		if cfg.TracesOTLP == "grpc" {
			exp, err = otlptracegrpc.New(ctx)
		} else {
			exp, err = otlptracehttp.New(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter (%s): %w", cfg.TracesOTLP, err)
		}
		spanExporters = append(spanExporters, exp)
		t.Exporters = append(t.Exporters, "traces:otlp/"+cfg.TracesOTLP)
	}
	if cfg.OTelStdout {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(stdout))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("stdout trace exporter: %w", err), shutdownExporters(ctx, spanExporters))
		}
		spanExporters = append(spanExporters, exp)
		t.Exporters = append(t.Exporters, "traces:stdout")
	}
	for _, exp := range spanExporters {
		traceOpts = append(traceOpts, sdktrace.WithBatcher(exp))
	}
	// WithBatcher has started the processors' goroutines: from here on a
	// failure must shut the tracer provider down.
	t.TracerProvider = sdktrace.NewTracerProvider(traceOpts...)

	switch cfg.MetricsOTLP {
	case "grpc", "http/protobuf":
		var exp sdkmetric.Exporter
		if cfg.MetricsOTLP == "grpc" {
			exp, err = otlpmetricgrpc.New(ctx)
		} else {
			exp, err = otlpmetrichttp.New(ctx)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("OTLP metric exporter (%s): %w", cfg.MetricsOTLP, err), t.TracerProvider.Shutdown(ctx))
		}
		// Interval and timeout: OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT.
		metricOpts = append(metricOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp)))
		t.Exporters = append(t.Exporters, "metrics:otlp/"+cfg.MetricsOTLP)
	}
	t.MeterProvider = sdkmetric.NewMeterProvider(metricOpts...)
	if len(t.Exporters) == 0 {
		t.Exporters = []string{"none"}
	}
	return t, nil
}

func shutdownExporters(ctx context.Context, exporters []sdktrace.SpanExporter) error {
	var errs []error
	for _, exp := range exporters {
		errs = append(errs, exp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// installGlobal makes t the process's global providers (for libraries
// that use otel's globals), with W3C trace-context and baggage
// propagation, and routes the SDK's own errors to logger.
func (t *Telemetry) installGlobal(logger *slog.Logger) {
	otel.SetTracerProvider(t.TracerProvider)
	otel.SetMeterProvider(t.MeterProvider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("opentelemetry", "error", err)
	}))
}

// Shutdown flushes what is buffered and stops the exporters, within ctx.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.TracerProvider.Shutdown(ctx), t.MeterProvider.Shutdown(ctx))
}
