package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/samples/exclusivejob"
	"github.com/redlease/redlease/samples/fencedstore"
	"github.com/redlease/redlease/samples/permitpool"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// services are what the worker runs: the Redis clients, the lease client,
// the Temporal client and the worker with everything registered. The
// binary and the integration test build them with newServices, passing
// their own telemetry providers.
type services struct {
	nodes    []*redis.Client
	store    *redis.Client // nil without -store-redis
	leases   *lease.Client
	temporal client.Client
	worker   worker.Worker
}

// newServices builds the services (the worker is created, not started).
// On error, whatever was built is closed again.
func newServices(ctx context.Context, cfg Config, logger *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, onFatal func(error)) (_ *services, err error) {
	s := &services{nodes: redisClients(cfg.Redis)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	if cfg.StoreRedis != nil {
		s.store = redis.NewClient(cfg.StoreRedis)
	}
	pingNodes(ctx, logger, append(append([]*redis.Client(nil), s.nodes...), nonNil(s.store)...), cfg.ConnectTimeout)

	s.leases, err = lease.New(leaseNodes(s.nodes), append(leaseOptions(cfg),
		lease.WithTracerProvider(tp),
		lease.WithMeterProvider(mp),
	)...)
	if err != nil {
		return nil, fmt.Errorf("lease client: %w", err)
	}
	acts, err := activities.New(s.leases)
	if err != nil {
		return nil, err
	}
	var sample *samples
	if s.store != nil {
		sample = &samples{
			job:  &exclusivejob.Activities{Leases: acts, Store: fencedstore.New(s.store, cfg.StoreName)},
			pool: &permitpool.Activities{Leases: acts, Pool: permitpool.New(s.store, cfg.StoreName)},
		}
	}

	opts, err := temporalClientOptions(cfg, logger, tp, mp)
	if err != nil {
		return nil, err
	}
	if s.temporal, err = dialTemporal(ctx, cfg, opts); err != nil {
		return nil, err
	}
	s.worker = newTemporalWorker(s.temporal, cfg, acts, sample, onFatal)
	return s, nil
}

func nonNil(c *redis.Client) []*redis.Client {
	if c == nil {
		return nil
	}
	return []*redis.Client{c}
}

// close releases everything but the worker, which the caller stops first
// (if it was started): the lease client (waiting for its in-flight
// requests), the Redis clients, then the Temporal client.
func (s *services) close() error {
	var errs []error
	if s.leases != nil {
		errs = append(errs, s.leases.Close())
	}
	errs = append(errs, closeRedis(s.nodes...), closeRedis(s.store))
	if s.temporal != nil {
		s.temporal.Close()
	}
	return errors.Join(errs...)
}
