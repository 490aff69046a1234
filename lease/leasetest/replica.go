package leasetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Replica is a redis-server that replicates a primary Node with Redis's own
// asynchronous replication: the primary acknowledges a write before the
// replica has it. It is not one of a Cluster's Nodes (Cluster.Close does not
// stop it, LeaseNodes does not list it): close it with its own Close.
//
// The embedded Node's Kill, Pause, Resume and Client work as for any node.
// Restart brings it back empty and as a master, not as a replica.
type Replica struct {
	*Node
	// Primary is the node it was started as a replica of.
	Primary *Node

	root string
}

// replicaReady bounds how long StartReplica waits for the first sync.
const replicaReady = 10 * time.Second

// StartReplica starts a new, empty redis-server without persistence on a
// free loopback port, makes it a replica of primary (REPLICAOF), and waits
// until its INFO replication shows master_link_status:up, that is, until
// the initial sync is done. So that sync starts at once, it sets the
// primary's repl-diskless-sync-delay to 0 (the default waits 5 s for more
// replicas). The caller must call Close.
func StartReplica(ctx context.Context, primary *Node) (*Replica, error) {
	if primary == nil || !primary.Running() {
		return nil, errors.New("leasetest: StartReplica needs a running primary")
	}
	root, err := os.MkdirTemp("", "leasetest-replica-")
	if err != nil {
		return nil, fmt.Errorf("leasetest: %w", err)
	}
	node, err := startNode(ctx, primary.bin, root, nil)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(root))
	}
	r := &Replica{Node: node, Primary: primary, root: root}
	if err := r.follow(ctx); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

// Replicate is StartReplica for a test: the replica is closed in
// t.Cleanup. A missing redis-server skips or fails the test, as in Start.
func Replicate(t testing.TB, primary *Node) *Replica {
	t.Helper()
	r, err := StartReplica(context.Background(), primary)
	if errors.Is(err, ErrNoRedisServer) && os.Getenv("CI") != "true" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// follow points the replica at its primary and waits for the link.
func (r *Replica) follow(ctx context.Context) error {
	if err := r.Primary.Client.ConfigSet(ctx, "repl-diskless-sync-delay", "0").Err(); err != nil {
		return fmt.Errorf("leasetest: primary %s: %w", r.Primary.Addr, err)
	}
	host, port, err := net.SplitHostPort(r.Primary.Addr)
	if err != nil {
		return fmt.Errorf("leasetest: primary address: %w", err)
	}
	if err := r.Client.Do(ctx, "REPLICAOF", host, port).Err(); err != nil {
		return fmt.Errorf("leasetest: REPLICAOF on %s: %w", r.Addr, err)
	}
	deadline := time.Now().Add(replicaReady)
	for {
		up, err := r.LinkUp(ctx)
		if up {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("leasetest: replica %s of %s: link not up: %w", r.Addr, r.Primary.Addr, errors.Join(err, ctx.Err(), errors.New("timed out")))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LinkUp reports whether the replica's INFO replication shows
// master_link_status:up: connected to its primary and synced.
func (r *Replica) LinkUp(ctx context.Context) (bool, error) {
	info, err := r.Client.Info(ctx, "replication").Result()
	if err != nil {
		return false, err
	}
	return infoField(info, "master_link_status") == "up", nil
}

// WaitSynced waits until the replica has applied every write the primary
// had made when WaitSynced was called (its slave_repl_offset reaches the
// primary's master_repl_offset), or until ctx ends.
func (r *Replica) WaitSynced(ctx context.Context) error {
	info, err := r.Primary.Client.Info(ctx, "replication").Result()
	if err != nil {
		return fmt.Errorf("leasetest: primary %s: %w", r.Primary.Addr, err)
	}
	want := infoField(info, "master_repl_offset")
	for {
		info, err := r.Client.Info(ctx, "replication").Result()
		if err == nil && offsetAtLeast(infoField(info, "slave_repl_offset"), want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leasetest: replica %s not synced to offset %s: %w", r.Addr, want, errors.Join(err, ctx.Err()))
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Promote turns the replica into a master that accepts writes (REPLICAOF
// NO ONE), keeping the data it has: what a failover does.
func (r *Replica) Promote(ctx context.Context) error {
	if err := r.Client.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		return fmt.Errorf("leasetest: promote %s: %w", r.Addr, err)
	}
	return nil
}

// Close stops the replica's process, closes its client and removes its
// directory. It does not touch the primary.
func (r *Replica) Close() error {
	return errors.Join(r.stop(), os.RemoveAll(r.root))
}

// infoField returns the value of name in an INFO reply, or "".
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// offsetAtLeast compares two decimal replication offsets.
func offsetAtLeast(have, want string) bool {
	h, errH := strconv.ParseInt(have, 10, 64)
	w, errW := strconv.ParseInt(want, 10, 64)
	return errH == nil && errW == nil && h >= w
}
