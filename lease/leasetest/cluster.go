package leasetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/redlease/redlease/lease"
)

// Cluster is a set of independent redis-server nodes (not a Redis Cluster:
// each node is its own master, as Redlock requires).
type Cluster struct {
	Nodes []*Node
	root  string
}

// StartNodes starts n redis-server processes under a new temporary
// directory and declares each ready with lease.InitNode (they are brand
// new, so they need not sit out the restart guard). The caller must call
// Close. It returns ErrNoRedisServer when
// the binary is missing.
func StartNodes(ctx context.Context, n int) (*Cluster, error) {
	return startNodes(ctx, n, nil)
}

// TLSNode says how a node listens with TLS besides its plain port.
type TLSNode struct {
	Files TLSFiles // the server's certificate and key, and the CA it trusts for clients
	// ClientCerts requires clients to present a certificate the CA signed
	// (mTLS: --tls-auth-clients yes); else none is asked for.
	ClientCerts bool
}

// StartTLS is Start for nodes that also listen with TLS on Node.TLSAddr.
func StartTLS(t testing.TB, n int, tls TLSNode) *Cluster {
	t.Helper()
	return startFor(t, func() (*Cluster, error) { return startNodes(context.Background(), n, &tls) })
}

func startNodes(ctx context.Context, n int, tls *TLSNode) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("leasetest: %d nodes requested", n)
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, ErrNoRedisServer
	}
	root, err := os.MkdirTemp("", "leasetest-")
	if err != nil {
		return nil, fmt.Errorf("leasetest: %w", err)
	}
	c := &Cluster{root: root}
	for i := range n {
		dir := fmt.Sprintf("%s/node%d", root, i)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return nil, errors.Join(fmt.Errorf("leasetest: %w", err), c.Close())
		}
		node, err := startNode(ctx, bin, dir, tls)
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		c.Nodes = append(c.Nodes, node)
		// Brand new, never served a lock: no restart guard to sit out.
		if _, err := lease.InitNode(ctx, node.Client); err != nil {
			return nil, errors.Join(fmt.Errorf("leasetest: %w", err), c.Close())
		}
	}
	return c, nil
}

// Start starts n nodes for a test and stops them in t.Cleanup. When
// redis-server is missing it skips the test with an install hint, or fails
// it when the environment variable CI is "true", so CI never passes by
// skipping.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	return startFor(t, func() (*Cluster, error) { return StartNodes(context.Background(), n) })
}

func startFor(t testing.TB, start func() (*Cluster, error)) *Cluster {
	t.Helper()
	c, err := start()
	if errors.Is(err, ErrNoRedisServer) && os.Getenv("CI") != "true" {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// LeaseNodes returns the nodes' clients as lease.Node values, in order.
func (c *Cluster) LeaseNodes() []lease.Node {
	nodes := make([]lease.Node, len(c.Nodes))
	for i, n := range c.Nodes {
		nodes[i] = n.Client
	}
	return nodes
}

// Addrs returns the nodes' addresses, in order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Close stops every node and removes their directories.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.stop())
	}
	errs = append(errs, os.RemoveAll(c.root))
	return errors.Join(errs...)
}
