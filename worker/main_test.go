package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: the
// worker's pollers, the Temporal and Redis clients, the lease client and
// the span processors must all be stopped by the shutdown path.
func TestMain(m *testing.M) {
	// go-redis retries a failed dial (a killed node) from a goroutine that
	// sleeps 1 s between tries and ends at its next wake-up once the client
	// is closed: not ours to wait for.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
