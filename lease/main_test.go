package lease_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: node
// requests, straggler rounds and redis-server watchers must all be stopped.
func TestMain(m *testing.M) {
	// go-redis retries a failed dial (a killed node) from a goroutine that
	// sleeps 1 s between tries and ends at its next wake-up once the client
	// is closed: not ours to wait for.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}
