package lease_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

// startExampleNodes starts three local redis-server nodes for the examples.
// In production, pass clients of your own independent Redis servers.
func startExampleNodes() (*lease.Client, func()) {
	cluster, err := leasetest.StartNodes(context.Background(), 3)
	if err != nil {
		log.Fatal(err)
	}
	client, err := lease.New(cluster.LeaseNodes(), lease.WithTTL(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	return client, func() { client.Close(); cluster.Close() }
}

func ExampleClient_Acquire() {
	client, stop := startExampleNodes()
	defer stop()
	ctx := context.Background()

	l, err := client.Acquire(ctx, "invoices/2026-11", lease.WithWait(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Release(ctx)
	// Pass l.Token() to the protected resource with every write, so it can
	// reject writes of an earlier holder whose lease ran out.
	fmt.Println("holding", l.Resource(), "token > 0:", l.Token() > 0, "valid", l.Valid())

	// A second acquisition fails while the first holds the lease.
	_, err = client.Acquire(ctx, "invoices/2026-11")
	var na *lease.NotAcquiredError
	fmt.Println("second acquire:", errors.As(err, &na), na.Acquired, "of", na.Quorum)
	// Output:
	// holding invoices/2026-11 token > 0: true valid true
	// second acquire: true 0 of 2
}

func ExampleLease_Extend() {
	client, stop := startExampleNodes()
	defer stop()
	ctx := context.Background()

	l, err := client.Acquire(ctx, "report", lease.WithLeaseTTL(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Release(ctx)
	before, token := l.ValidUntil(), l.Token()
	switch err := l.Extend(ctx); {
	case errors.Is(err, lease.ErrLost):
		fmt.Println("lost: stop working on the resource")
	case err != nil:
		fmt.Println("not extended, still valid until", l.ValidUntil())
	default:
		fmt.Println("extended:", l.ValidUntil().After(before), "token unchanged:", l.Token() == token)
	}
	// Output: extended: true token unchanged: true
}

func ExampleLease_Release() {
	client, stop := startExampleNodes()
	defer stop()
	ctx := context.Background()

	l, err := client.Acquire(ctx, "report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(l.Release(ctx), l.Release(ctx)) // idempotent
	next, err := client.Acquire(ctx, "report")
	if err != nil {
		log.Fatal(err)
	}
	defer next.Release(ctx)
	fmt.Println("next token higher:", next.Token() > l.Token())
	// Output:
	// <nil> <nil>
	// next token higher: true
}
