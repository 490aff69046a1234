package lease_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: node
// requests, straggler rounds and redis-server watchers must all be stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
