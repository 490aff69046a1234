package main

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuUse is CPU time consumed so far by this process (the client side) and
// by the redis-server processes (the server side), user plus system.
type cpuUse struct{ client, server time.Duration }

func (a cpuUse) sub(b cpuUse) cpuUse { return cpuUse{a.client - b.client, a.server - b.server} }

// sampleCPU reads this process's rusage and every node's INFO cpu (the
// servers' used_cpu_user + used_cpu_sys). A node that does not answer
// counts as zero.
func sampleCPU(ctx context.Context, clients []*redis.Client) cpuUse {
	var u cpuUse
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	for _, c := range clients {
		info, err := c.Info(ctx, "cpu").Result()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(info, "\r\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				if s, err := strconv.ParseFloat(v, 64); err == nil {
					u.server += time.Duration(s * float64(time.Second))
				}
			}
		}
	}
	return u
}

// perOp divides CPU time by a number of operations, for the tables.
func (a cpuUse) perOp(ops int) (client, server string) {
	if ops == 0 {
		return "-", "-"
	}
	return fmtDur(a.client / time.Duration(ops)), fmtDur(a.server / time.Duration(ops))
}
