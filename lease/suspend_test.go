package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

// A suspend (VM paused, laptop asleep) stops Go's monotonic clock but not
// time on the Redis nodes. After a resume past the validity deadline, the
// lease must not be trusted: Valid is false at once, Done closes, Extend
// reports ErrLost, with or without a keeper. The suspend is simulated by
// a clock seam: a real one cannot be made in a test.
func TestValidityCountsSuspendedTime(t *testing.T) {
	for _, keeper := range []bool{false, true} {
		name := "without keeper"
		if keeper {
			name = "with keeper"
		}
		t.Run(name, func(t *testing.T) {
			clock := &lease.SuspendClock{}
			c, _ := newClient(t, 3, lease.WithTTL(3*time.Second), lease.WithSuspendClock(clock))
			var opts []lease.AcquireOption
			if keeper {
				opts = append(opts, lease.WithKeepAlive(0))
			}
			l := mustAcquire(t, c, "suspended", opts...)
			if !l.Valid() {
				t.Fatal("not valid right after acquisition")
			}
			clock.Suspend(5 * time.Second)
			if l.Valid() {
				t.Fatal("valid after a suspend longer than the TTL")
			}
			if time.Until(l.ValidUntil()) > 0 {
				t.Fatalf("ValidUntil %v from now after the suspend", time.Until(l.ValidUntil()))
			}
			select {
			case <-l.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("Done still open after the suspend")
			}
			if !errors.Is(l.Err(), lease.ErrLost) {
				t.Fatalf("ended with %v, want ErrLost", l.Err())
			}
			if err := l.Extend(context.Background()); !errors.Is(err, lease.ErrLost) {
				t.Fatalf("Extend after the suspend: %v, want ErrLost", err)
			}
		})
	}
}

// The watchdog alone (nobody calls Valid) notices a passed deadline within
// a second of the resume (plus scheduling).
func TestWatchdogNoticesASuspend(t *testing.T) {
	clock := &lease.SuspendClock{}
	c, _ := newClient(t, 3, lease.WithTTL(10*time.Second), lease.WithSuspendClock(clock))
	l := mustAcquire(t, c, "watched")
	clock.Suspend(11 * time.Second)
	select {
	case <-l.Done():
	case <-time.After(1500 * time.Millisecond):
		t.Fatal("Done still open 1.5 s after the resume")
	}
	if !errors.Is(l.Err(), lease.ErrLost) {
		t.Fatalf("ended with %v, want ErrLost", l.Err())
	}
}
