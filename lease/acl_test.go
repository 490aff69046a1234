package lease_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

// readmeACL is the ACL SETUSER line the README gives, with its password.
func readmeACL(t *testing.T) (args []any, user, password string) {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "ACL SETUSER ") {
			continue
		}
		fields := strings.Fields(line)
		for _, f := range fields {
			args = append(args, f)
			if strings.HasPrefix(f, ">") {
				password = f[1:]
			}
		}
		return args, fields[2], password
	}
	t.Fatal("README.md has no ACL SETUSER line")
	return nil, "", ""
}

// The README's least-privilege user can do everything a redlease client
// does, and nothing else.
func TestTheReadmeACLUserSuffices(t *testing.T) {
	_, cluster := newClient(t, 3)
	ctx := context.Background()
	acl, user, password := readmeACL(t)
	var nodes []lease.Node
	var asUser []*redis.Client
	for _, n := range cluster.Nodes {
		if err := n.Client.Do(ctx, acl...).Err(); err != nil {
			t.Fatalf("the README's ACL line on %s: %v", n.Addr, err)
		}
		// The node starts as brand new under the default user's InitNode;
		// the restricted user runs InitNode again below.
		c := redis.NewClient(&redis.Options{Addr: n.Addr, Username: user, Password: password, ContextTimeoutEnabled: true})
		t.Cleanup(func() { c.Close() })
		asUser = append(asUser, c)
		nodes = append(nodes, c)
	}
	if _, err := lease.InitNode(ctx, asUser[0]); err != nil {
		t.Fatalf("InitNode as %s: %v", user, err)
	}
	c, err := lease.New(nodes, lease.WithTTL(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Leases: waiting (Pub/Sub wake-ups and hand-offs), extensions, releases.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 5 {
				l, err := c.Acquire(ctx, "acl", lease.WithWait(10*time.Second))
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Extend(ctx); err != nil {
					t.Error(err)
				}
				if err := l.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// A scope lease with progress, a permit and a permit scope.
	owner := scopeOwner(t, "acl/holder", 100)
	g, err := c.AcquireScope(ctx, "acl-scope", owner, lease.ScopeFirst())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeepScope(ctx, "acl-scope", owner, 2*time.Second, true); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveProgress(ctx, "acl-scope", owner, g.Token, "f", 1, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, found, err := c.LoadProgress(ctx, "acl-scope", owner, "f"); err != nil || !found {
		t.Fatalf("load progress: %v %v", found, err)
	}
	if err := c.ReleaseScope(ctx, "acl-scope", "acl/holder", lease.NewEpoch(100, 0), 0); err != nil {
		t.Fatal(err)
	}
	p, err := c.AcquirePermit(ctx, "acl-pool", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AcquirePermitScope(ctx, "acl-pool", 3, scopeOwner(t, "acl/permit", 100)); err != nil {
		t.Fatal(err)
	}

	// Nothing else.
	u := asUser[0]
	if err := cluster.Nodes[0].Client.Set(ctx, "app:secret", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"GET another key":           u.Get(ctx, "app:secret").Err(),
		"SET another key":           u.Set(ctx, "app:other", "x", 0).Err(),
		"KEYS":                      u.Keys(ctx, "*").Err(),
		"FLUSHALL":                  u.FlushAll(ctx).Err(),
		"CONFIG SET":                u.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(),
		"a script on another key":   u.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{"app:secret"}).Err(),
		"a script calling FLUSHALL": u.Eval(ctx, "return redis.call('FLUSHALL')", []string{"redlease:x"}).Err(),
		"INCR on a redlease key":    u.Incr(ctx, "redlease:counter").Err(),
		"PUBLISH to another chan":   u.Publish(ctx, "app:events", "x").Err(),
		"SUBSCRIBE another chan":    subscribeErr(ctx, u, "app:events"),
	} {
		// Redis says NOPERM, or for a command inside a script "can't run
		// this command".
		if err == nil || !(strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "can't run this command")) {
			t.Errorf("%s as %s: %v, want a permission error", name, user, err)
		}
	}
}

func subscribeErr(ctx context.Context, c *redis.Client, channel string) error {
	ps := c.Subscribe(ctx, channel)
	defer ps.Close()
	_, err := ps.Receive(ctx)
	if err == nil {
		return errors.New("subscribed")
	}
	return err
}
