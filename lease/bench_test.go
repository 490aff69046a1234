package lease_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// BenchmarkAcquireRelease is one uncontended acquire+release cycle, for
// profiling (go test -bench AcquireRelease -cpuprofile/-memprofile); the
// side-by-side comparison with other locks is go run ./bench.
func BenchmarkAcquireRelease(b *testing.B) {
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c := leasetest.Start(b, n)
			client, err := lease.New(c.LeaseNodes(), lease.WithNodeTimeout(time.Second)) // a profile, not a timeout test
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			ctx := context.Background()
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					cycle(ctx, b, client, "bench/serial")
				}
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					key := fmt.Sprintf("bench/parallel/%d", next.Add(1))
					for pb.Next() {
						cycle(ctx, b, client, key)
					}
				})
			})
		})
	}
}

func cycle(ctx context.Context, b *testing.B, c *lease.Client, key string) {
	l, err := c.Acquire(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		b.Fatal(err)
	}
}
