package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// printHeader describes the machine and the settings of the run.
func (b *bench) printHeader(ctx context.Context) {
	version := "?"
	if info, err := b.clients[0].Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				version = v
			}
		}
	}
	fmt.Printf("# redlease vs redsync, bsm/redislock and rueidislock — %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("- go: %s %s/%s, GOMAXPROCS %d, %d CPUs (%s)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH,
		runtime.GOMAXPROCS(0), runtime.NumCPU(), cpuModel())
	fmt.Printf("- nodes: %d local redis-server %s processes on loopback; main comparisons on %d (quorum %d)\n",
		len(b.clients), version, mainNodes, mainNodes/2+1)
	fmt.Printf("- every peer: TTL %v, node timeout %v; all but rueidislock on the same go-redis clients (pool of %d connections per node, opened up front)\n",
		b.o.ttl, b.o.nodeTimeout, b.clients[0].Options().PoolSize)
	fmt.Printf("- each measurement: %v per peer, in %d rounds interleaving the peers, after %v of warm-up\n",
		b.o.dur, b.o.rounds, b.o.warmup)
	fmt.Printf("- redsync v4.18.1 (go-redis v9 pools), defaults otherwise (its acquire waits for every node)\n")
	fmt.Printf("- bsm/redislock v0.9.4 (one node, 1 ms retry when waiting); rueidislock of rueidis v1.0.79 (one node, KeyMajority 1, its own rueidis client): field tables F1–F6\n")
	fmt.Printf("- 4. floor: parallel SET NX PX to every node, then parallel DEL; no Lua, no owner check (a row of tables 1, 2 and 5)\n")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
