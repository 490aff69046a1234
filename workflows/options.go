package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/redlease/redlease/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Defaults of LeaseOptions.
const (
	DefaultTTL              = 30 * time.Second
	DefaultHeartbeatTimeout = 10 * time.Second
	DefaultWait             = time.Hour
	DefaultSectionTimeout   = time.Hour
)

// LeaseOptions configure WithLease. Zero fields take the stated defaults.
type LeaseOptions struct {
	// Name distinguishes several leases of one workflow run.
	// Default: activities.DefaultLeaseName.
	Name string
	// TTL of the lease on the Redis nodes. Default: DefaultTTL (30 s).
	// Must exceed HeartbeatTimeout plus the extension interval
	// (HeartbeatTimeout/2, at most TTL/3) plus activities.KeeperRestart
	// (1 s): the timing rule. Gaps in the workflow (timers, signal waits,
	// retries) do not count: the keeper extends the lease through them.
	TTL time.Duration
	// HeartbeatTimeout of the acquire and critical-section activities.
	// Default: DefaultHeartbeatTimeout (10 s).
	HeartbeatTimeout time.Duration
	// Wait bounds how long AcquireLease waits for the lease.
	// Default: DefaultWait (1 h).
	Wait time.Duration
	// SectionTimeout is the StartToCloseTimeout of each critical-section
	// activity attempt. Default: DefaultSectionTimeout (1 h).
	SectionTimeout time.Duration
	// SectionRetry is the retry policy of critical-section activities; the
	// LeaseLost, LeaseNotAcquired and LeaseInvalidInput types, and the SDK's
	// ActivityNotRegisteredError (a worker of the task queue does not know
	// the section's activity), are always added to its
	// NonRetryableErrorTypes. Default: the server's default
	// policy (unlimited attempts, exponential backoff from 1 s).
	SectionRetry *temporal.RetryPolicy
	// TaskQueue for the lease and section activities. Default: the
	// workflow's task queue.
	TaskQueue string
	// AcquireInSection skips the AcquireLease activity: the first
	// critical-section activity acquires the lease itself (acquire-and-run),
	// which saves one activity round trip through the server per handoff.
	AcquireInSection bool
}

// ErrInvalidOptions is wrapped by the error WithLease returns for bad options.
var ErrInvalidOptions = errors.New("workflows: invalid lease options")

func (o LeaseOptions) withDefaults() (LeaseOptions, error) {
	if o.Name == "" {
		o.Name = activities.DefaultLeaseName
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.HeartbeatTimeout == 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	if o.SectionTimeout == 0 {
		o.SectionTimeout = DefaultSectionTimeout
	}
	switch {
	case o.TTL < 0, o.HeartbeatTimeout < 0, o.Wait < 0, o.SectionTimeout < 0:
		return o, fmt.Errorf("%w: negative duration in %+v", ErrInvalidOptions, o)
	case o.TTL <= o.HeartbeatTimeout+o.interval()+activities.KeeperRestart:
		return o, fmt.Errorf("%w: TTL %v must exceed HeartbeatTimeout %v + extension interval %v + keeper restart %v",
			ErrInvalidOptions, o.TTL, o.HeartbeatTimeout, o.interval(), activities.KeeperRestart)
	}
	return o, nil
}

// interval is how often a critical section extends the lease, as
// activities.Run computes it.
func (o LeaseOptions) interval() time.Duration {
	return min(o.HeartbeatTimeout/2, o.TTL/3)
}

var nonRetryableTypes = []string{activities.ErrorTypeLeaseLost, activities.ErrorTypeNotAcquired, activities.ErrorTypeInvalidInput, activities.ErrorTypeReleased}

// activityNotRegistered is the error type the SDK reports when a worker of
// the task queue has no activity of that name. A section that no worker
// runs must not retry forever while its lease is held: it fails, and
// WithLease releases the lease. So every worker of the sections' task
// queue must register the section activities.
const activityNotRegistered = "ActivityNotRegisteredError"

// sectionOptions are the activity options of critical sections.
func (o LeaseOptions) sectionOptions() workflow.ActivityOptions {
	retry := &temporal.RetryPolicy{}
	if o.SectionRetry != nil {
		copied := *o.SectionRetry
		retry = &copied
	}
	retry.NonRetryableErrorTypes = append(append(append([]string(nil), retry.NonRetryableErrorTypes...), nonRetryableTypes...), activityNotRegistered)
	return workflow.ActivityOptions{
		TaskQueue:           o.TaskQueue,
		StartToCloseTimeout: o.SectionTimeout,
		HeartbeatTimeout:    o.HeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         retry,
	}
}

// keeperOptions are the activity options of KeepLease.
func (o LeaseOptions) keeperOptions() workflow.ActivityOptions {
	retry := keeperRetry
	retry.NonRetryableErrorTypes = append(append([]string(nil), nonRetryableTypes...), activityNotRegistered)
	return workflow.ActivityOptions{
		TaskQueue:           o.TaskQueue,
		StartToCloseTimeout: keeperAttempt,
		HeartbeatTimeout:    o.HeartbeatTimeout,
		RetryPolicy:         &retry,
	}
}

// acquireOptions are the activity options of AcquireLease.
func (o LeaseOptions) acquireOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           o.TaskQueue,
		StartToCloseTimeout: o.Wait + time.Minute,
		HeartbeatTimeout:    o.HeartbeatTimeout,
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{NonRetryableErrorTypes: nonRetryableTypes},
	}
}

// releaseOptions are the activity options of ReleaseLease: short attempts,
// retried for up to twice the TTL (after that the lock has expired anyway).
func (o LeaseOptions) releaseOptions() workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:              o.TaskQueue,
		StartToCloseTimeout:    10 * time.Second,
		ScheduleToCloseTimeout: 2*o.TTL + 10*time.Second,
		RetryPolicy:            &temporal.RetryPolicy{NonRetryableErrorTypes: nonRetryableTypes},
	}
}
