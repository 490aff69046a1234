package lease_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
)

func TestAcquireExcludesOthersUntilRelease(t *testing.T) {
	c, cluster := newClient(t, 5)
	ctx := context.Background()

	first := mustAcquire(t, c, "printer")
	if first.Token() <= 0 {
		t.Fatalf("token %d, want > 0", first.Token())
	}
	if got := countOwner(lockValues(t, cluster, "printer"), first.Owner()); got < c.Quorum() {
		t.Fatalf("owner value on %d nodes, want at least %d", got, c.Quorum())
	}
	if !first.Valid() || time.Until(first.ValidUntil()) > first.TTL() {
		t.Fatalf("valid=%v until %v: want valid, within one TTL", first.Valid(), time.Until(first.ValidUntil()))
	}

	_, err := c.Acquire(ctx, "printer")
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) || !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("second acquire: %v, want *NotAcquiredError", err)
	}
	if na.Acquired != 0 || na.RetryAfter <= 0 || na.RetryAfter > first.TTL() {
		t.Fatalf("second acquire detail: acquired %d, retry after %v", na.Acquired, na.RetryAfter)
	}
	for _, ne := range na.Nodes {
		if !errors.Is(ne, lease.ErrTaken) {
			t.Fatalf("node detail %v, want ErrTaken", ne)
		}
	}
	if got := countOwner(lockValues(t, cluster, "printer"), first.Owner()); got < c.Quorum() {
		t.Fatalf("failed acquire disturbed the holder: owner value on %d nodes", got)
	}

	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if first.Valid() {
		t.Fatal("released lease still reports Valid")
	}
	waitReleased(t, cluster, "printer")
	second := mustAcquire(t, c, "printer")
	if second.Token() <= first.Token() {
		t.Fatalf("second token %d not above first %d", second.Token(), first.Token())
	}
	if err := second.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestReleaseIsIdempotent(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	l := mustAcquire(t, c, "idem")
	for i := range 3 {
		if err := l.Release(ctx); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	if err := c.ReleaseOwner(ctx, "idem", l.Owner()); err != nil {
		t.Fatal(err)
	}
	if err := l.Extend(ctx); !errors.Is(err, lease.ErrReleased) {
		t.Fatalf("extend after release: %v, want ErrReleased", err)
	}
	// Only the three fence counters remain.
	waitUntil(t, 2*time.Second, "only the fence counters left", func() bool { return keyCount(t, cluster) == 3 })
}

func TestAcquireWithWaitGetsLockWhenHolderReleases(t *testing.T) {
	metrics, contended := contention(t)
	c, cluster := newClient(t, 3, metrics)
	ctx := context.Background()
	holder := mustAcquire(t, c, "queue")

	got := make(chan *lease.Lease, 1)
	errc := make(chan error, 1)
	go func() {
		l, err := c.Acquire(ctx, "queue", lease.WithWait(5*time.Second))
		errc <- err
		got <- l
	}()
	waitForWaiter(t, cluster, "queue", contended, 0)
	if err := holder.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	waiter := <-got
	if waiter.Token() <= holder.Token() {
		t.Fatalf("waiter token %d not above %d", waiter.Token(), holder.Token())
	}
	if err := waiter.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAcquireWithWaitGivesUpAfterBudget(t *testing.T) {
	c, _ := newClient(t, 3)
	holder := mustAcquire(t, c, "busy")
	defer holder.Release(context.Background())

	start := time.Now()
	_, err := c.Acquire(context.Background(), "busy", lease.WithWait(150*time.Millisecond))
	var na *lease.NotAcquiredError
	if !errors.As(err, &na) {
		t.Fatalf("got %v, want *NotAcquiredError after the budget", err)
	}
	if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
		t.Fatalf("gave up after %v, before its 150ms budget", elapsed)
	}
}

func TestAcquireCancelledReturnsContextErrorAndLeavesNothing(t *testing.T) {
	c, cluster := newClient(t, 3)
	holder := mustAcquire(t, c, "cancel")
	before := settledValues(t, cluster, "cancel", holder.Owner())

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(40*time.Millisecond, cancel)
	_, err := c.Acquire(ctx, "cancel", lease.WithWait(time.Minute))
	if !errors.Is(err, context.Canceled) || !errors.Is(err, lease.ErrNotAcquired) {
		t.Fatalf("got %v, want context.Canceled and ErrNotAcquired", err)
	}
	assertUnchanged(t, cluster, "cancel", before, "a cancelled waiter")

	// Cancelled before it starts: nothing is written anywhere.
	if err := holder.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Release returns at quorum; the last node's delete lands a moment later.
	waitUntil(t, 2*time.Second, "the holder's lock gone from every node", func() bool {
		return countOwner(lockValues(t, cluster, "cancel"), "") == 3
	})
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := c.Acquire(done, "cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if vals := lockValues(t, cluster, "cancel"); countOwner(vals, "") != 3 {
		t.Fatalf("cancelled acquire left a lock: %q", vals)
	}
}
