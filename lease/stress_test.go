package lease_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// I1 and I2 under contention: K goroutines × M iterations on one resource,
// each holder entering a fenced register. The register must see no overlap
// and strictly increasing tokens. With chaos on, one random node at a time
// is paused and resumed while the holders run. Bounded by a deadline.
func TestContendedHoldersNeverOverlap(t *testing.T) {
	for _, chaos := range []bool{false, true} {
		t.Run(fmt.Sprintf("chaos=%v", chaos), func(t *testing.T) {
			const workers, iterations = 8, 25
			c, cluster := newClient(t, 5, lease.WithTTL(5*time.Second))
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()

			var register leasetest.FencedRegister
			stopChaos := startChaos(t, cluster, chaos)
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- holdRepeatedly(ctx, c, &register, fmt.Sprintf("worker-%d", w), iterations)
				}()
			}
			wg.Wait()
			stopChaos()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if err := register.Check(); err != nil {
				t.Fatal(err)
			}
			if got := len(register.Log()); got != workers*iterations {
				t.Fatalf("register accepted %d critical sections, want %d (stale tokens rejected: %d)", got, workers*iterations, register.Rejected())
			}
		})
	}
}

func holdRepeatedly(ctx context.Context, c *lease.Client, register *leasetest.FencedRegister, name string, iterations int) error {
	for i := 0; i < iterations; {
		l, err := c.Acquire(ctx, "stress", lease.WithWait(30*time.Second))
		if err != nil {
			return fmt.Errorf("%s iteration %d: %w", name, i, err)
		}
		if err := register.Enter(l.Token(), name); err != nil {
			return err
		}
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // the critical section
		valid := l.Valid()
		register.Exit(l.Token())
		// A release may miss its quorum while nodes are paused; the keys
		// left then expire by TTL, which the next holder waits out.
		if err := l.Release(context.Background()); err != nil && !errors.Is(err, lease.ErrNotReleased) {
			return err
		}
		if !valid {
			return fmt.Errorf("%s iteration %d: lease expired inside a short critical section", name, i)
		}
		i++
	}
	return nil
}

// startChaos pauses one random node at a time for a few tens of
// milliseconds until the returned stop function is called.
func startChaos(t *testing.T, cluster *leasetest.Cluster, on bool) (stop func()) {
	if !on {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			n := cluster.Nodes[rand.IntN(len(cluster.Nodes))]
			if err := n.Pause(); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-done:
				_ = n.Resume()
				return
			case <-time.After(time.Duration(20+rand.IntN(60)) * time.Millisecond):
			}
			if err := n.Resume(); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Duration(rand.IntN(50)) * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}
