package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Extend with a cancelled context reports the cancellation
// (errors.Is(err, context.Canceled)) and changes nothing. Release with a
// cancelled context reports it too, but releases all the same: a deferred
// Release(ctx) after ctx ended must not leave the lock behind.
func TestExtendAndReleaseReportCancellation(t *testing.T) {
	c, cluster := newClient(t, 3)
	l := mustAcquire(t, c, "cancelled-calls")
	before := settledValues(t, cluster, "cancelled-calls", l.Owner())
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Extend(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("extend with a cancelled context: %v, want context.Canceled", err)
	}
	assertUnchanged(t, cluster, "cancelled-calls", before, "a cancelled extend")
	if err := l.Extend(context.Background()); err != nil {
		t.Fatalf("extend after the cancelled one: %v", err)
	}
	if err := l.Release(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("release with a cancelled context: %v, want context.Canceled", err)
	}
	waitUntil(t, 2*time.Second, "the lock released on every node", func() bool {
		return countOwner(lockValues(t, cluster, "cancelled-calls"), "") == 3
	})
}
