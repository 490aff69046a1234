package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redlease/redlease/lease"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Heartbeat is the heartbeat detail Run records: which lease the attempt
// holds, with which token, and the section's last saved progress (JSON),
// for operators (`temporal workflow describe`). Retries do not read it:
// they load the progress from the lease's nodes.
type Heartbeat struct {
	Resource string
	Token    int64
	Progress json.RawMessage `json:",omitempty"`
}

// Section is what a critical section sees while it runs under Run.
type Section struct {
	work   context.Context // fn's context: saves stop when it ends
	lost   context.CancelCauseFunc
	client *lease.Client
	info   LeaseInfo
	token  int64
	field  string // the activity id: progress is kept per section

	resumed []byte // the progress an earlier attempt saved, JSON; nil when none

	mu    sync.Mutex // orders saves
	seq   uint64
	saved []byte // the last progress saved (or resumed), JSON
}

func (s *Section) heartbeat() Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Heartbeat{Resource: s.info.Resource, Token: s.token, Progress: s.saved}
}

// Token is this attempt's fencing token, higher than every token of the
// resource before it, this scope's earlier attempts included. Pass it with
// every write to the protected resource and let the resource refuse tokens
// lower than the highest it has seen: that is what fences out a zombie
// attempt.
func (s *Section) Token() int64 { return s.token }

// Progress saves details (JSON-encoded) as this section's progress on the
// lease's nodes and returns once a quorum stored it: a retried attempt of
// this section reads it with LastProgress, however the previous attempt
// ended. The save is fenced: once a newer attempt has taken a token, or
// the lease was released, this attempt's saves are refused (and stored on
// no node: a retry never resumes from them), Progress returns a LeaseLost
// error and fn's context is cancelled. Any other error (nodes unreachable) means the save
// may not be visible to a retry; fn decides whether to go on.
//
// Call it after each step's effect is done: a crash then redoes at most the
// step in progress. Steps are at-least-once unless their effects are
// fenced by Token and idempotent.
func (s *Section) Progress(details any) error {
	data, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("activities: progress of lease %q is not JSON-encodable: %w", s.info.Resource, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	err = s.client.SaveProgress(s.work, s.info.Resource, s.info.Owner, s.token, s.field, s.seq, data, s.info.scopeOptions()...)
	if err == nil {
		s.saved = data
	}
	if errors.Is(err, lease.ErrLost) {
		s.lost(err)
		return leaseLost(fmt.Sprintf("lease %q: this attempt is fenced out (a newer attempt took a later token, or the lease was released)", s.info.Resource), err)
	}
	return err
}

// LastProgress decodes into ptr the last progress an earlier attempt of
// this section saved with Progress. It reports false when there is none
// (first attempt, or no save) or when it does not decode into ptr.
func (s *Section) LastProgress(ptr any) bool {
	return s.resumed != nil && json.Unmarshal(s.resumed, ptr) == nil
}

// errUnconfirmed ends fn when this worker could not confirm the lease for
// its whole validity: the attempt fails, retryably, and a retry continues
// the scope if the nodes prove it still holds.
var errUnconfirmed = errors.New("the lease could not be confirmed within its validity: no quorum of nodes answered")

// Run executes fn as a critical section of info's scope, in a heartbeating
// activity. Call it from your activity function:
//
//	func (j *Jobs) Step(ctx context.Context, l activities.LeaseInfo, in Input) (Output, error) {
//		return activities.Run(ctx, j.Leases, l, func(ctx context.Context, s *activities.Section) (Output, error) {
//			return j.store.Write(ctx, s.Token(), ...) // fenced write
//		})
//	}
//
// Each attempt first takes a fresh token for the scope
// (lease.Client.AcquireScope): where the scope holds the lock, or where the
// nodes prove nobody else held it since the scope acquired it. When the
// scope was not acquired yet (info.Token 0: acquire-and-run) it waits for
// the lease, heartbeating. A retried attempt then loads the progress the
// previous attempts saved (Section.LastProgress). fn runs in its own
// goroutine while this one, every interval (HeartbeatTimeout/2, at most
// TTL/3), extends the lock and, if a quorum did, records the heartbeat. A
// failed extension skips the heartbeat, so Temporal retries the attempt
// elsewhere if this worker cannot reach Redis.
//
// fn's context is cancelled when the activity is cancelled, when the scope
// is proven lost or a newer attempt took a token — Run then returns a
// non-retryable LeaseLost — and when the lease could not be confirmed for
// its whole validity, which fails the attempt with a retryable
// LeaseUnconfirmed error. fn must return promptly once its context ends.
// Sections of one scope run one at a time: a section started later fences
// out one still running. The scope's last section (info.Last, see
// LeaseInfo.AsLast) releases the scope as soon as fn succeeded.
//
// The activity's options must follow the timing rule: TTL > HeartbeatTimeout
// + interval + KeeperRestart; otherwise Run returns LeaseInvalidInput.
func Run[T any](ctx context.Context, a *Activities, info LeaseInfo, fn func(ctx context.Context, s *Section) (T, error)) (T, error) {
	var zero T
	ttl := info.TTL
	if ttl <= 0 {
		return zero, invalidInput(fmt.Errorf("lease %q: TTL %v in LeaseInfo is not positive", info.Resource, ttl))
	}
	actInfo := activity.GetInfo(ctx)
	interval := min(heartbeatInterval(actInfo.HeartbeatTimeout), ttl/3)
	if actInfo.HeartbeatTimeout > 0 && ttl <= actInfo.HeartbeatTimeout+interval+KeeperRestart {
		return zero, invalidInput(fmt.Errorf("lease %q: TTL %v must exceed HeartbeatTimeout %v + extension interval %v + keeper restart %v",
			info.Resource, ttl, actInfo.HeartbeatTimeout, interval, KeeperRestart))
	}

	grant, err := acquireHeartbeating(ctx, a.client, info, 0, false)
	if err != nil {
		return zero, err
	}
	var resumed []byte
	if actInfo.Attempt > 1 {
		data, found, err := a.client.LoadProgress(ctx, info.Resource, info.Owner, actInfo.ActivityID, info.scopeOptions()...)
		if err != nil {
			return zero, classify(err)
		}
		if found {
			resumed = data
		}
	}
	work, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	section := &Section{work: work, lost: lost, client: a.client, info: info, token: grant.Token, field: actInfo.ActivityID, resumed: resumed, saved: resumed}
	type result struct {
		value T
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn(work, section)
		done <- result{v, err}
	}()
	// The first heartbeat goes to the server at once (later ones are
	// throttled): after fn has started, so the handoff does not wait for it.
	activity.RecordHeartbeat(ctx, section.heartbeat())

	// The validity is checked at least every second: a timer alone would
	// not count time the machine spent suspended.
	check := time.NewTicker(min(interval, time.Second))
	defer check.Stop()
	remaining, lastKeep := grant.Remaining, time.Now()
	for {
		select {
		case r := <-done:
			cause := context.Cause(work)
			switch {
			case cause == nil && r.err == nil && info.Last:
				// The scope's last section: hand the resource over now. A
				// failed release is left to the workflow's ReleaseLease.
				if err := a.client.EndScope(ctx, info.Resource, info.Owner, attemptEpoch(ctx), info.TTL, info.scopeOptions()...); err != nil {
					activity.GetLogger(ctx).Warn("release after the last section failed; the workflow's release follows", "resource", info.Resource, "error", err)
				}
			case errors.Is(cause, lease.ErrLost):
				return r.value, leaseLost(fmt.Sprintf("lease %q lost during the critical section: %v", info.Resource, cause), r.err)
			case errors.Is(cause, errUnconfirmed):
				return r.value, temporal.NewApplicationErrorWithCause(fmt.Sprintf("lease %q: %v", info.Resource, errUnconfirmed), ErrorTypeUnconfirmed, r.err)
			}
			return r.value, r.err
		case <-check.C:
		}
		if time.Since(lastKeep) >= interval && work.Err() == nil {
			lastKeep = time.Now()
			kept, err := a.client.KeepScope(ctx, info.Resource, info.Owner, ttl, true, append(info.scopeOptions(), lease.ScopeAttempt(attemptEpoch(ctx)))...)
			switch {
			case err == nil:
				remaining = kept.Remaining
				activity.RecordHeartbeat(ctx, section.heartbeat())
			case errors.Is(err, lease.ErrLost), errors.Is(err, lease.ErrScopeEnded):
				lost(errors.Join(lease.ErrLost, err))
			}
		}
		if remaining() <= 0 && work.Err() == nil {
			lost(errUnconfirmed)
		}
	}
}
