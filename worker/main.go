// Command worker is the redlease Temporal worker. It registers the lease
// activities (redlease.AcquireLease, redlease.KeepLease,
// redlease.ReleaseLease), the redlease.ExclusiveJob workflow and, when a
// fenced store is configured, the samples — exclusivejob (FencedSteps,
// StagedJob) and permitpool (permitpool.Workflow, permitpool.Call) — then
// polls its task queue until SIGINT or SIGTERM.
//
//	go run ./worker -redis redis://127.0.0.1:6379,redis://127.0.0.1:6380,redis://127.0.0.1:6381
//
// # Configuration
//
// Every flag falls back to an environment variable; a flag given on the
// command line wins, and an empty variable counts as unset.
//
//	Flag               Variable                    Default
//	-temporal-address  TEMPORAL_ADDRESS            127.0.0.1:7233
//	-namespace         TEMPORAL_NAMESPACE          default
//	-task-queue        REDLEASE_TASK_QUEUE         redlease
//	-connect-timeout   REDLEASE_CONNECT_TIMEOUT    10s (how long to try reaching Temporal at start)
//	-redis             REDLEASE_REDIS_URLS         required
//	-redis-tls-ca      REDLEASE_REDIS_TLS_CA       none (the system's roots verify rediss:// nodes)
//	-redis-tls-cert    REDLEASE_REDIS_TLS_CERT     none (no client certificate; with -redis-tls-key: mutual TLS)
//	-redis-tls-key     REDLEASE_REDIS_TLS_KEY      none
//	-redis-tls-server-name REDLEASE_REDIS_TLS_SERVER_NAME  the URL's host
//	-lease-ttl         REDLEASE_TTL                30s
//	-restart-guard     REDLEASE_RESTART_GUARD      1m (also the longest lease TTL)
//	-node-timeout      REDLEASE_NODE_TIMEOUT       100ms
//	-store-redis       REDLEASE_STORE_URL          none (no sample job)
//	-store-name        REDLEASE_STORE_NAME         redlease-demo
//	-log-level         REDLEASE_LOG_LEVEL          info (debug, info, warn, error)
//	-otel-stdout       REDLEASE_OTEL_STDOUT        false
//	-shutdown-timeout  REDLEASE_SHUTDOWN_TIMEOUT   30s
//
// -redis is a comma-separated list of redis:// or rediss:// (TLS) URLs,
// redis://[user:password@]host[:port][/db][?go-redis options], one per
// independent Redis master; the count must be odd and the nodes distinct.
// -store-redis is one such URL. Passwords are never logged: the worker
// logs host:port only.
//
// The -redis-tls-* settings apply to every rediss:// URL (lease nodes and
// store): -redis-tls-ca verifies the nodes against a private CA instead of
// the system's roots, -redis-tls-cert and -redis-tls-key present a client
// certificate to nodes started with --tls-auth-clients yes, and
// -redis-tls-server-name is the name checked in the nodes' certificates
// when the URLs name them by address. Giving any of them without a
// rediss:// URL is an error.
//
// -restart-guard is the lease client's restart guard
// (lease.WithRestartGuard): how long a node that lost its data grants no
// lock. It is also the longest lease TTL: a -lease-ttl above it is bad
// configuration, and so is an activity's TTL above it (the activity fails
// with LeaseInvalidInput). Give every client of the same nodes the same
// guard: a node refuses acquisitions from a client with a shorter guard
// than it has seen.
//
// # Logging
//
// log/slog text lines on stderr, the Temporal SDK's included. go-redis's
// own lines (such as "redis: connection pool: failed to dial after N
// attempts" while a node is down) are records too, at WARN with
// component=go-redis.
//
// # OpenTelemetry
//
// The worker always installs SDK tracer and meter providers (also as the
// otel globals), so spans nest and propagate even when none is exported.
// Its resource has service.name "redlease-worker" unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES says otherwise. Exporters:
//
//   - traces over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT or
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set;
//   - metrics over OTLP (periodic reader) when OTEL_EXPORTER_OTLP_ENDPOINT
//     or OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set;
//   - the protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL (or _METRICS_),
//     else OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" or "http/protobuf" (the
//     default); the exporters read the other OTEL_EXPORTER_OTLP_* variables
//     (headers, TLS, timeouts) themselves;
//   - -otel-stdout adds spans on stdout, one JSON object per span.
//
// With none of these, nothing is exported. Temporal's tracing interceptor
// wraps each activity in a RunActivity span that the lease spans
// (redlease.acquire, ...) are children of; Temporal's SDK metrics and the
// lease metrics go to the same meter provider.
//
// # Shutdown and exit status
//
// On SIGINT or SIGTERM the worker stops polling, waits up to
// -shutdown-timeout for running activities, closes the lease client and
// the Redis and Temporal clients, flushes telemetry and exits 0; a second
// signal ends it at once. Bad configuration exits 2 with one line on
// stderr; failing to reach Temporal within -connect-timeout, or the
// worker failing, exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// telemetryFlushTimeout bounds the final flush of spans and metrics.
const telemetryFlushTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second
	// signal ends the process without waiting for the graceful shutdown.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is the whole program: it returns the exit status. The worker runs
// until ctx ends (the signal), then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// go-redis's lines go through the worker's logger from the start:
	// parseConfig already creates Redis clients. The level is set once
	// the configuration is known.
	var level slog.LevelVar
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &level}))
	installRedisLogger(logger)

	cfg, err := parseConfig(args, getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(stderr)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "worker: %v (see worker -h)\n", err)
		return 2
	}
	level.Set(cfg.LogLevel)

	tel, err := newTelemetry(ctx, cfg, stdout)
	if err != nil {
		logger.Error("cannot set up OpenTelemetry", "error", err)
		return 1
	}
	tel.installGlobal(logger)
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), telemetryFlushTimeout)
		defer cancel()
		if err := tel.Shutdown(flushCtx); err != nil {
			logger.Warn("telemetry flush failed", "error", err)
		}
	}()

	fatal := make(chan error, 1)
	onFatal := func(err error) {
		select {
		case fatal <- err:
		default:
		}
	}
	svc, err := newServices(ctx, cfg, logger, tel.TracerProvider, tel.MeterProvider, onFatal)
	if err != nil {
		logger.Error("worker not started", "error", err)
		return 1
	}
	if err := svc.worker.Start(); err != nil {
		logger.Error("worker not started", "task_queue", cfg.TaskQueue, "error", err)
		if err := svc.close(); err != nil {
			logger.Warn("close", "error", err)
		}
		return 1
	}
	logger.Info("worker started",
		"task_queue", cfg.TaskQueue,
		"namespace", cfg.Namespace,
		"temporal_address", cfg.TemporalAddress,
		"redis_nodes", strings.Join(cfg.RedisAddrs(), ","),
		"store", storeDescription(cfg),
		"lease_ttl", cfg.LeaseTTL,
		"restart_guard", cfg.RestartGuard,
		"node_timeout", cfg.NodeTimeout,
		"otel_exporters", strings.Join(tel.Exporters, ","),
	)

	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down: waiting for running activities", "timeout", cfg.ShutdownTimeout)
	case err := <-fatal:
		logger.Error("worker failed", "error", err)
		code = 1
	}
	svc.worker.Stop()
	if err := svc.close(); err != nil {
		logger.Warn("close", "error", err)
	}
	logger.Info("worker stopped")
	return code
}

// storeDescription is the sample store for the start line: name@host:port
// or "none".
func storeDescription(cfg Config) string {
	if cfg.StoreRedis == nil {
		return "none"
	}
	return cfg.StoreName + "@" + cfg.StoreRedis.Addr
}
