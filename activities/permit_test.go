package activities_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redlease/redlease/activities"
	"github.com/redlease/redlease/lease"
)

// acquirePermit runs AcquireLease for a permit scope of limit permits.
func acquirePermit(t *testing.T, acts *activities.Activities, info activities.LeaseInfo, limit int, wait time.Duration) (activities.LeaseInfo, error) {
	t.Helper()
	env, _ := activityEnv()
	acts.Register(env)
	info.Limit = limit
	val, err := env.ExecuteActivity(activities.AcquireName, activities.AcquireRequest{Lease: info, Wait: wait})
	if err != nil {
		return activities.LeaseInfo{}, err
	}
	var got activities.LeaseInfo
	if err := val.Get(&got); err != nil {
		t.Fatal(err)
	}
	return got, nil
}

// AcquireLease of a permit scope takes one of Limit slots and says which;
// its sections run on that slot with tokens above the start's and resume
// from its saved progress; a permit is refused while all are held, with
// how many are held; the release frees the slot for the next holder.
func TestPermitScopeActivities(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	const limit = 2
	a, err := acquirePermit(t, acts, newScope("api", "run-a", 5*time.Second), limit, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := acquirePermit(t, acts, newScope("api", "run-b", 5*time.Second), limit, 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Slot == b.Slot || a.Token == 0 || b.Token == 0 || a.Limit != limit {
		t.Fatalf("permits %+v and %+v: want two slots with tokens", a, b)
	}
	_, err = acquirePermit(t, acts, newScope("api", "run-c", 5*time.Second), limit, 300*time.Millisecond)
	// A workflow sees the lease error's text: it says how many are held.
	if !isType(err, activities.ErrorTypeNotAcquired, false) || !strings.Contains(err.Error(), "2 of 2 permits held") {
		t.Fatalf("a third permit of two: %v, want LeaseNotAcquired with 2 of 2 held", err)
	}

	var first int64
	err = runSection(acts, a, func(_ context.Context, s *activities.Section) (string, error) {
		first = s.Token()
		return "", s.Progress("step 1")
	})
	if err != nil || first <= a.Token {
		t.Fatalf("section on the slot: token %d after %d, %v", first, a.Token, err)
	}
	data, found, err := client.LoadProgress(ctx, "api", a.Owner, "0", lease.ScopePermit(a.Slot))
	if err != nil || !found || string(data) != `"step 1"` {
		t.Fatalf("the section's progress on its slot: %q %v %v", data, found, err)
	}

	env, _ := activityEnv()
	acts.Register(env)
	if _, err := env.ExecuteActivity(activities.ReleaseName, a); err != nil {
		t.Fatal(err)
	}
	c, err := acquirePermit(t, acts, newScope("api", "run-c", 5*time.Second), limit, time.Second)
	if err != nil {
		t.Fatalf("the released slot is not free: %v", err)
	}
	if c.Slot != a.Slot {
		t.Fatalf("the next permit took slot %d, want the released %d", c.Slot, a.Slot)
	}
	ran := false
	err = runSection(acts, a, func(context.Context, *activities.Section) (string, error) { ran = true; return "", nil })
	if ran || !isType(err, activities.ErrorTypeReleased, false) {
		t.Fatalf("a section after the release: ran %v, %v", ran, err)
	}
}

// A permit scope whose AcquireLease result the workflow never saw (Token 0)
// is released on every slot: whatever slot an attempt took is freed, and an
// attempt delivered late takes none.
func TestReleasingAnUnstartedPermitScopeFreesItsSlot(t *testing.T) {
	acts, client, _ := newLeases(t, 3)
	ctx := context.Background()
	info := newScope("farm", "run-lost", 5*time.Second)
	if _, err := acquirePermit(t, acts, info, 3, 0); err != nil { // the result is "lost"
		t.Fatal(err)
	}
	info.Limit = 3
	for range 2 {
		if _, err := client.AcquirePermit(ctx, "farm", 3); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.AcquirePermit(ctx, "farm", 3); !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("a fourth permit of three: %v", err)
	}
	env, _ := activityEnv()
	acts.Register(env)
	if _, err := env.ExecuteActivity(activities.ReleaseName, info); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AcquirePermit(ctx, "farm", 3); err != nil {
		t.Fatalf("the lost start's slot was not released: %v", err)
	}
	late := info
	_, err := acquirePermit(t, acts, late, 3, 0)
	if !isType(err, activities.ErrorTypeReleased, false) && !isType(err, activities.ErrorTypeNotAcquired, false) {
		t.Fatalf("a start delivered after the release: %v", err)
	}
}

// Bad permit input is refused, non-retryably, and writes nothing: a limit
// out of range, a section of a permit scope that never started, a limit
// that differs from what the nodes record.
func TestPermitActivitiesRefuseBadInput(t *testing.T) {
	acts, client, cluster := newLeases(t, 3)
	ctx := context.Background()
	for _, limit := range []int{-1, lease.MaxPermits + 1} {
		if _, err := acquirePermit(t, acts, newScope("gpu", "run-x", 5*time.Second), limit, 0); !isType(err, activities.ErrorTypeInvalidInput, false) {
			t.Fatalf("limit %d: %v, want LeaseInvalidInput", limit, err)
		}
	}
	unstarted := newScope("gpu", "run-y", 5*time.Second)
	unstarted.Limit = 2
	if err := runSection(acts, unstarted, func(context.Context, *activities.Section) (string, error) { return "", nil }); !isType(err, activities.ErrorTypeInvalidInput, false) {
		t.Fatalf("a section of an unstarted permit scope: %v", err)
	}
	if n := cluster.Nodes[0].Client.DBSize(ctx).Val(); n > 1 { // the restart guard's key only
		t.Fatalf("bad input wrote %d keys", n)
	}
	p, err := client.AcquirePermit(ctx, "gpu", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release(ctx)
	_, err = acquirePermit(t, acts, newScope("gpu", "run-z", 5*time.Second), 2, time.Second)
	if !isType(err, activities.ErrorTypeInvalidInput, false) || !strings.Contains(err.Error(), "has 3: every caller must use the same limit") {
		t.Fatalf("a permit scope with another limit: %v, want LeaseInvalidInput matching ErrPermitLimit", err)
	}
}
