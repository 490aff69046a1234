package main

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// requestCounter counts the commands the benchmark's node clients send
// (top-level commands: an EVALSHA counts once, whatever the script calls).
// Pub/Sub traffic does not pass through it. The cost is one atomic add per
// command, the same for every peer.
type requestCounter struct{ n atomic.Int64 }

func (c *requestCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

func (c *requestCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

func (c *requestCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func (c *requestCounter) load() int64 { return c.n.Load() }

// meter reads the request count and CPU use around a measurement.
type meter struct {
	reqs    *requestCounter
	clients []*redis.Client
}

type meterSample struct {
	requests int64
	cpu      cpuUse
}

func (m *meter) sample(ctx context.Context) meterSample {
	cpu := sampleCPU(ctx, m.clients) // its INFO commands come before the count
	return meterSample{requests: m.reqs.load(), cpu: cpu}
}

// since returns the requests sent and CPU used since s.
func (m *meter) since(ctx context.Context, s meterSample) (int64, cpuUse) {
	requests := m.reqs.load() - s.requests // before this sample's INFO commands
	return requests, sampleCPU(ctx, m.clients).sub(s.cpu)
}
