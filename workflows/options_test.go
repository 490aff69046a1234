package workflows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/temporal"
)

// Critical sections heartbeat, wait for their cancellation to finish, and
// never retry the lease's own failures; the caller's retry policy is kept
// and not modified.
func TestSectionOptions(t *testing.T) {
	callers := &temporal.RetryPolicy{MaximumAttempts: 4, NonRetryableErrorTypes: []string{"Mine"}}
	o, err := LeaseOptions{SectionRetry: callers}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	got := o.sectionOptions()
	if got.HeartbeatTimeout != DefaultHeartbeatTimeout || !got.WaitForCancellation || got.StartToCloseTimeout != DefaultSectionTimeout {
		t.Fatalf("section options %+v: want HeartbeatTimeout %v, WaitForCancellation, StartToClose %v", got, DefaultHeartbeatTimeout, DefaultSectionTimeout)
	}
	types := got.RetryPolicy.NonRetryableErrorTypes
	for _, want := range []string{"Mine", activities.ErrorTypeLeaseLost, activities.ErrorTypeNotAcquired, activities.ErrorTypeInvalidInput} {
		if !slices.Contains(types, want) {
			t.Errorf("non-retryable types %v lack %s", types, want)
		}
	}
	if got.RetryPolicy.MaximumAttempts != 4 {
		t.Errorf("the caller's retry policy was not kept: %+v", got.RetryPolicy)
	}
	if len(callers.NonRetryableErrorTypes) != 1 {
		t.Errorf("the caller's retry policy was modified: %v", callers.NonRetryableErrorTypes)
	}
}

// The timing rule: TTL > HeartbeatTimeout + extension interval + keeper restart.
func TestTimingRule(t *testing.T) {
	for _, c := range []struct {
		ttl, heartbeat time.Duration
		ok             bool
	}{
		{30 * time.Second, 10 * time.Second, true},
		{17 * time.Second, 10 * time.Second, true},  // interval min(5 s, 5.67 s), + 1 s
		{16 * time.Second, 10 * time.Second, false}, // interval 5 s: 16 s is not above 10 + 5 + 1
		{3 * time.Second, time.Second, true},        // interval 0.5 s
		{2500 * time.Millisecond, time.Second, false},
		{10 * time.Second, 10 * time.Second, false},
		{-time.Second, 0, false},
	} {
		_, err := LeaseOptions{TTL: c.ttl, HeartbeatTimeout: c.heartbeat}.withDefaults()
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidOptions)) {
			t.Errorf("TTL %v, HeartbeatTimeout %v: error %v, want ok=%v", c.ttl, c.heartbeat, err, c.ok)
		}
	}
}
