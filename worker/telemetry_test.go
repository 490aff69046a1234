package main

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTelemetryStdoutExportsSpansWithTheServiceName(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	var out bytes.Buffer
	tel, err := newTelemetry(context.Background(), Config{OTelStdout: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"traces:stdout"}; !reflect.DeepEqual(tel.Exporters, want) {
		t.Errorf("exporters %v, want %v", tel.Exporters, want)
	}
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "unit-span")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Name":"unit-span"`, `"Value":"` + defaultServiceName + `"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %s:\n%s", want, out.String())
		}
	}
}

func TestTelemetryWithoutExporters(t *testing.T) {
	var out bytes.Buffer
	tel, err := newTelemetry(context.Background(), Config{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"none"}; !reflect.DeepEqual(tel.Exporters, want) {
		t.Errorf("exporters %v, want %v", tel.Exporters, want)
	}
	// Spans still get valid ids, so they nest and propagate.
	_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "s")
	if !span.SpanContext().IsValid() {
		t.Error("span without a valid span context")
	}
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("wrote to stdout without -otel-stdout: %s", out.String())
	}
}

// OTLP exporters towards an endpoint where nothing listens: building them
// does not wait, and shutting down ends once the final export has failed
// (bounded by OTEL_EXPORTER_OTLP_TIMEOUT, which the exporters read).
func TestTelemetryOTLPExportersDoNotHangShutdown(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(proto, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+closedPort(t))
			t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "300") // milliseconds
			tel, err := newTelemetry(context.Background(), Config{TracesOTLP: proto, MetricsOTLP: proto}, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"traces:otlp/" + proto, "metrics:otlp/" + proto}
			if !reflect.DeepEqual(tel.Exporters, want) {
				t.Errorf("exporters %v, want %v", tel.Exporters, want)
			}
			_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "s")
			span.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err = tel.Shutdown(ctx) // the final export fails: nothing listens
			if ctx.Err() != nil {
				t.Fatalf("shutdown still exporting after %v: %v", time.Since(start), err)
			}
			if err == nil {
				t.Error("shutdown reported no error though nothing listens at the endpoint")
			}
			t.Logf("shutdown after %v: %v", time.Since(start).Round(time.Millisecond), err)
		})
	}
}
