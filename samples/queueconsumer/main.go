// Command queueconsumer runs the seed's example: a queue that gives its
// consumers no isolation (a Redis list), several consumers, and a lease
// that lets only one of them process at a time. It runs the consumers
// twice — without the lease, then with it — and verifies that every
// message was processed exactly once, in order.
//
//	go run ./samples/queueconsumer [-consumers 4] [-messages 200]
//
// It starts its own redis-server nodes (5 for the lease, 1 for the queue)
// on free loopback ports and stops them at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redlease/redlease/lease"
	"github.com/redlease/redlease/lease/leasetest"
)

func main() {
	consumers := flag.Int("consumers", 4, "number of concurrent consumers")
	messages := flag.Int("messages", 200, "messages to enqueue")
	work := flag.Duration("work", time.Millisecond, "processing time per message")
	flag.Parse()
	if *consumers < 1 || *messages < 1 || *work < 0 {
		fmt.Fprintln(os.Stderr, "queueconsumer: -consumers and -messages must be positive, -work not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *consumers, *messages, *work); err != nil {
		fmt.Fprintln(os.Stderr, "queueconsumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, consumers, messages int, work time.Duration) error {
	fmt.Printf("starting 6 redis-server nodes (5 for the lease, 1 for the queue)...\n")
	cluster, err := leasetest.StartNodes(ctx, 6)
	if err != nil {
		return err
	}
	defer cluster.Close()
	locks, err := lease.New(cluster.LeaseNodes()[:5], lease.WithTTL(5*time.Second))
	if err != nil {
		return err
	}
	defer locks.Close()
	q := queue{rdb: cluster.Nodes[5].Client, name: "orders"}

	fmt.Printf("\n%-10s %9s %8s %8s %11s %13s %8s\n", "mode", "messages", "records", "missing", "duplicates", "out of order", "verdict")
	failed := false
	for _, mode := range []struct {
		name  string
		locks *lease.Client
	}{{"no lock", nil}, {"redlease", locks}} {
		if err := q.produce(ctx, messages); err != nil {
			return err
		}
		start := time.Now()
		if err := consume(ctx, q, mode.locks, consumers, work); err != nil {
			return err
		}
		out, err := q.output(ctx)
		if err != nil {
			return err
		}
		missing, dups, disorder := verify(out, messages)
		verdict := "ok"
		if missing > 0 || dups > 0 || disorder > 0 {
			verdict = "BROKEN"
			if mode.locks != nil {
				failed = true
			}
		}
		fmt.Printf("%-10s %9d %8d %8d %11d %13d %8s   (%v)\n", mode.name, messages, len(out), missing, dups, disorder, verdict, time.Since(start).Round(time.Millisecond))
	}
	if failed {
		return fmt.Errorf("with the lease, messages were not processed exactly once in order")
	}
	fmt.Printf("\nwith the lease: %d messages processed exactly once, in order, by %d consumers\n", messages, consumers)
	return nil
}

func consume(ctx context.Context, q queue, locks *lease.Client, consumers int, work time.Duration) error {
	var wg sync.WaitGroup
	errs := make(chan error, consumers)
	for i := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := consumer{name: fmt.Sprintf("consumer-%d", i), locks: locks, q: q, batch: 10, work: work}
			errs <- c.run(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// verify counts messages never recorded, duplicate records, and records
// whose sequence number is not the one expected next.
func verify(out []string, messages int) (missing, duplicates, outOfOrder int) {
	seen := make(map[string]bool, len(out))
	next := 0
	for _, rec := range out {
		msg := rec[:strings.LastIndex(rec, "|")]
		if seen[msg] {
			duplicates++
			continue
		}
		seen[msg] = true
		if msg != fmt.Sprintf("%d|msg-%d", next, next) {
			outOfOrder++
		}
		next++
	}
	return messages - len(seen), duplicates, outOfOrder
}
