package permitpool_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redlease/redlease/lease/leasetest"
	"github.com/redlease/redlease/samples/permitpool"
)

// The pool counts calls in flight by holder, fences each slot on its own
// (a token below the slot's highest is refused and kept aside, whatever
// other slots saw), and keeps tokens exact (they are near 2^51).
func TestPoolCountsCallsAndFencesPerSlot(t *testing.T) {
	node := leasetest.Start(t, 1).Nodes[0]
	p := permitpool.New(node.Client, "t")
	ctx := context.Background()
	const big = int64(1795798373396183)
	steps := []struct {
		exit   bool
		slot   int
		token  int64
		holder string
		want   int // calls in flight after it; -1: refused
	}{
		{false, 0, big, "a", 1},
		{false, 1, 5, "b", 2},       // slot 1 is fenced on its own: 5 < slot 0's token is fine
		{false, 0, big + 1, "c", 3}, // c took slot 0 over: a is fenced out, still counted until it exits
		{true, 0, big, "a", -1},     // a's late exit is refused
		{true, 0, big + 1, "c", 2},
		{false, 1, 5, "b", 2}, // b's retry replaces its own call
		{true, 1, 5, "b", 1},
	}
	for i, s := range steps {
		var n int
		var err error
		if s.exit {
			n, err = p.Exit(ctx, s.slot, s.token, s.holder, i)
		} else {
			n, err = p.Enter(ctx, s.slot, s.token, s.holder, i)
		}
		switch {
		case s.want < 0 && !errors.Is(err, permitpool.ErrStaleToken):
			t.Fatalf("step %d: %v, want ErrStaleToken", i, err)
		case s.want >= 0 && (err != nil || n != s.want):
			t.Fatalf("step %d: %d in flight, %v; want %d", i, n, err, s.want)
		}
	}
	log, err := p.Log(ctx)
	if err != nil || len(log) != 6 || log[2].Token != big+1 || log[2].InFlight != 3 {
		t.Fatalf("log %+v, %v", log, err)
	}
	refused, err := p.Refused(ctx)
	if err != nil || len(refused) != 1 || refused[0].Holder != "a" || refused[0].Token != big {
		t.Fatalf("refused %+v, %v", refused, err)
	}
	// a never exited: the log ends with a's call open, and more than 2 in
	// flight at one point.
	if _, err := permitpool.Check(log, 3); err == nil || !strings.Contains(err.Error(), "a's call never ended") {
		t.Fatalf("Check with a call left open: %v", err)
	}
	if _, err := permitpool.Check(log, 2); err == nil || !strings.Contains(err.Error(), "3 calls in flight, limit 2") {
		t.Fatalf("Check with 3 in flight against a limit of 2: %v", err)
	}
}
