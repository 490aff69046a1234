package lease_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// I6: bad input gets a typed error naming the field, and changes nothing
// on any node.
func TestInvalidInputIsRejectedAndChangesNothing(t *testing.T) {
	c, cluster := newClient(t, 3)
	ctx := context.Background()
	nodes := cluster.LeaseNodes()
	var nilClient *redis.Client
	sameAddr := redis.NewClient(&redis.Options{Addr: cluster.Nodes[1].Addr, DB: 3}) // another database of one server
	t.Cleanup(func() { sameAddr.Close() })

	newCases := map[string]struct {
		nodes []lease.Node
		opts  []lease.Option
		field string
	}{
		"no nodes":          {nil, nil, "nodes"},
		"even nodes":        {nodes[:2], nil, "nodes"},
		"duplicate node":    {[]lease.Node{nodes[0], nodes[1], nodes[0]}, nil, "nodes"},
		"same address":      {[]lease.Node{nodes[0], nodes[1], sameAddr}, nil, "nodes"},
		"nil node":          {[]lease.Node{nodes[0], nil, nodes[2]}, nil, "nodes"},
		"nil *redis.Client": {[]lease.Node{nodes[0], nilClient, nodes[2]}, nil, "nodes"},
		"ttl below drift":   {nodes, []lease.Option{lease.WithTTL(2 * time.Millisecond)}, "ttl"},
		"zero ttl":          {nodes, []lease.Option{lease.WithTTL(0)}, "ttl"},
		"ttl vs timeout":    {nodes, []lease.Option{lease.WithTTL(time.Second), lease.WithNodeTimeout(time.Second)}, "ttl"},
		"drift factor":      {nodes, []lease.Option{lease.WithDriftFactor(0.7)}, "drift factor"},
		"node timeout":      {nodes, []lease.Option{lease.WithNodeTimeout(0)}, "node timeout"},
		"nil backoff":       {nodes, []lease.Option{lease.WithRetryBackOff(nil)}, "retry backoff"},
		"nil option":        {nodes, []lease.Option{nil}, "option"},
	}
	for name, tc := range newCases {
		t.Run("New/"+name, func(t *testing.T) {
			_, err := lease.New(tc.nodes, tc.opts...)
			assertInvalid(t, err, tc.field)
		})
	}

	acquireCases := map[string]struct {
		resource string
		opts     []lease.AcquireOption
		field    string
	}{
		"empty resource":     {"", nil, "resource"},
		"oversized resource": {strings.Repeat("r", lease.MaxResourceLen+1), nil, "resource"},
		"hash tag resource":  {"a}b", nil, "resource"},
		"invalid utf-8":      {"\xff", nil, "resource"},
		"ttl below drift":    {"r", []lease.AcquireOption{lease.WithLeaseTTL(3 * time.Millisecond)}, "lease ttl"},
		"negative ttl":       {"r", []lease.AcquireOption{lease.WithLeaseTTL(-time.Second)}, "lease ttl"},
		"empty holder":       {"r", []lease.AcquireOption{lease.WithHolder("")}, "holder"},
		"holder with #":      {"r", []lease.AcquireOption{lease.WithHolder("a#b")}, "holder"},
		"oversized holder":   {"r", []lease.AcquireOption{lease.WithHolder(strings.Repeat("h", lease.MaxHolderLen+1))}, "holder"},
		"takeover alone":     {"r", []lease.AcquireOption{lease.WithTakeover()}, "takeover"},
		"negative wait":      {"r", []lease.AcquireOption{lease.WithWait(-time.Second)}, "wait"},
		"nil option":         {"r", []lease.AcquireOption{nil}, "option"},
	}
	for name, tc := range acquireCases {
		t.Run("Acquire/"+name, func(t *testing.T) {
			l, err := c.Acquire(ctx, tc.resource, tc.opts...)
			if l != nil {
				t.Fatal("got a lease with an error")
			}
			assertInvalid(t, err, tc.field)
		})
	}
	assertInvalid(t, c.ReleaseOwner(ctx, "", "x"), "resource")
	assertInvalid(t, c.ReleaseOwner(ctx, "r", ""), "owner")
	assertInvalid(t, c.ReleaseHolder(ctx, "r", "a#b", "", 0), "holder")

	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("bad input left %d keys on the nodes", n)
	}
}

func assertInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var ie *lease.InvalidInputError
	if !errors.As(err, &ie) || !errors.Is(err, lease.ErrInvalidInput) {
		t.Fatalf("got %v, want *InvalidInputError", err)
	}
	if ie.Field != field {
		t.Fatalf("error names %q, want %q: %v", ie.Field, field, err)
	}
}

func TestClosedClientRefusesWork(t *testing.T) {
	c, cluster := newClient(t, 3)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(context.Background(), "closed"); !errors.Is(err, lease.ErrClosed) {
		t.Fatalf("acquire after Close: %v, want ErrClosed", err)
	}
	if n := keyCount(t, cluster); n != 0 {
		t.Fatalf("closed client wrote %d keys", n)
	}
}
