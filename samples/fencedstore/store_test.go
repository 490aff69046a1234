package fencedstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/redlease/redlease/lease/leasetest"
	"github.com/redlease/redlease/samples/fencedstore"
)

func TestStoreRefusesStaleTokensAndKeepsThem(t *testing.T) {
	node := leasetest.Start(t, 1).Nodes[0]
	s := fencedstore.New(node.Client, "t")
	ctx := context.Background()
	for _, w := range []struct {
		token int64
		stale bool
	}{{3, false}, {3, false}, {5, false}, {4, true}, {6, false}} {
		err := s.Write(ctx, w.token, fencedstore.Entry{Holder: "h"})
		if w.stale != errors.Is(err, fencedstore.ErrStaleToken) || (!w.stale && err != nil) {
			t.Fatalf("write token %d: %v (stale expected: %v)", w.token, err, w.stale)
		}
	}
	log, err := s.Log(ctx)
	if err != nil || len(log) != 4 {
		t.Fatalf("log %v, %v: want 4 entries", log, err)
	}
	rejected, err := s.Rejected(ctx)
	if err != nil || len(rejected) != 1 || rejected[0].Token != 4 {
		t.Fatalf("rejected %v, %v: want the token-4 write", rejected, err)
	}
}

func TestCheckFindsInterleavingAndRegression(t *testing.T) {
	e := func(token int64, holder string) fencedstore.Entry {
		return fencedstore.Entry{Token: token, Holder: holder}
	}
	good := []fencedstore.Entry{e(1, "a"), e(1, "a"), e(2, "b"), e(3, "b"), e(4, "c")}
	order, err := fencedstore.Check(good)
	if err != nil || len(order) != 3 {
		t.Fatalf("good log: order %v, %v", order, err)
	}
	for name, bad := range map[string][]fencedstore.Entry{
		"regression":   {e(2, "a"), e(1, "b")},
		"shared token": {e(1, "a"), e(1, "b")},
		"resumed":      {e(1, "a"), e(2, "b"), e(1, "a")},
	} {
		if _, err := fencedstore.Check(bad); err == nil {
			t.Errorf("%s: Check accepted %v", name, bad)
		}
	}
}
