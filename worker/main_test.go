package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: the
// worker's pollers, the Temporal and Redis clients, the lease client and
// the span processors must all be stopped by the shutdown path.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
