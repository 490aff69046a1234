package leasetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/childproc"
	"github.com/redlease/redlease/lease"
)

// ErrNoRedisServer: the redis-server binary is not on PATH.
var ErrNoRedisServer = errors.New("leasetest: redis-server not found on PATH (Debian: apt-get install redis-server)")

// Node is one redis-server process. Its methods are safe for concurrent use.
type Node struct {
	// Addr is host:port on 127.0.0.1; it stays the same across Restart.
	Addr string
	// TLSAddr is the host:port of the node's TLS port (StartTLS); "" for a
	// node without TLS. Client always uses the plain port.
	TLSAddr string
	// Client is a go-redis client for this node, created with
	// ContextTimeoutEnabled and short dial and read timeouts so that a dead
	// or paused node fails requests fast. It reconnects after Restart.
	Client *redis.Client

	bin string
	dir string
	tls *TLSNode // nil: no TLS port

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	paused bool
}

// startNode starts redis-server on a free port, retrying with another port
// if the chosen one was taken in between.
func startNode(ctx context.Context, bin, dir string, tls *TLSNode) (*Node, error) {
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		n := &Node{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), bin: bin, dir: dir, tls: tls}
		if tls != nil {
			tlsPort, err := freePort()
			if err != nil {
				return nil, err
			}
			n.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tlsPort))
		}
		if lastErr = n.start(ctx); lastErr == nil {
			n.Client = redis.NewClient(&redis.Options{
				Addr:                  n.Addr,
				DialTimeout:           250 * time.Millisecond,
				ReadTimeout:           time.Second,
				WriteTimeout:          time.Second,
				ContextTimeoutEnabled: true,
				MaxRetries:            -1, // a fault must show as a failed request, not a slow retry
				DialerRetries:         1,
				PoolSize:              64,
			})
			return n, nil
		}
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("leasetest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start launches the process and waits until it answers PING.
func (n *Node) start(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(n.Addr)
	args := []string{
		"--bind", "127.0.0.1",
		"--port", port,
		"--save", "",
		"--appendonly", "no",
		"--dir", n.dir,
		"--logfile", filepath.Join(n.dir, "redis.log"),
		"--protected-mode", "no",
		"--daemonize", "no",
	}
	if n.tls != nil {
		_, tlsPort, _ := net.SplitHostPort(n.TLSAddr)
		auth := "no"
		if n.tls.ClientCerts {
			auth = "yes"
		}
		args = append(args, "--tls-port", tlsPort, "--tls-cert-file", n.tls.Files.ServerCert, "--tls-key-file", n.tls.Files.ServerKey,
			"--tls-ca-cert-file", n.tls.Files.CA, "--tls-auth-clients", auth)
	}
	cmd := exec.Command(n.bin, args...)
	childproc.DieWithParent(cmd) // also gone when a test binary is killed by its timeout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("leasetest: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	probe := redis.NewClient(&redis.Options{Addr: n.Addr, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer probe.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := probe.Ping(ctx).Err()
		if err == nil {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(n.dir, "redis.log"))
			return fmt.Errorf("leasetest: redis-server on %s exited at start: %s", n.Addr, tail(log, 400))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("leasetest: redis-server on %s not ready: %w", n.Addr, errors.Join(err, ctx.Err()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	n.mu.Lock()
	n.cmd, n.exited, n.paused = cmd, exited, false
	n.mu.Unlock()
	return nil
}

// Kill stops the process with SIGKILL and waits for it to exit. Its data
// is gone. Killing a node that is not running is a no-op.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return nil
	}
	if err := n.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("leasetest: kill %s: %w", n.Addr, err)
	}
	<-n.exited
	n.cmd, n.paused = nil, false
	return nil
}

// Restart kills the node if it runs and starts a fresh, empty one on the
// same address: what a restart without persistence looks like. The new
// process has lost the restart guard's node key too, so it grants no lock
// until its guard window ends (see lease.WithRestartGuard); a test that
// means a brand-new node instead may call lease.InitNode on it. Client stays
// the same; its pool drops the dead connections and dials the new process.
func (n *Node) Restart(ctx context.Context) error {
	if err := n.Kill(); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(n.dir, "dump.rdb")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("leasetest: %w", err)
	}
	return n.start(ctx)
}

// RestartWithData saves the node's data (SAVE, an RDB snapshot), kills it
// and starts it again on the same address from that snapshot: a restart
// with persistence. Keys keep their absolute expiry, so locks whose TTL ran
// out meanwhile are gone.
func (n *Node) RestartWithData(ctx context.Context) error {
	if err := n.Client.Save(ctx).Err(); err != nil {
		return fmt.Errorf("leasetest: save %s: %w", n.Addr, err)
	}
	if err := n.Kill(); err != nil {
		return err
	}
	return n.start(ctx)
}

// RestartFromSnapshot kills the node, running or paused, and starts it
// again on the same address from its last snapshot (a SAVE, say): a crash
// with RDB persistence. What it was sent after the snapshot, answered or
// not, is lost.
func (n *Node) RestartFromSnapshot(ctx context.Context) error {
	if err := n.Kill(); err != nil {
		return err
	}
	return n.start(ctx)
}

// Pause freezes the process with SIGSTOP: it keeps its connections open but
// answers nothing, like a node stuck in a long GC or a network partition.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP, true) }

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT, false) }

func (n *Node) signal(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("leasetest: %s is not running", n.Addr)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("leasetest: signal %v to %s: %w", sig, n.Addr, err)
	}
	n.paused = paused
	return nil
}

// Running reports whether the process was started and not killed.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// Paused reports whether the process is stopped by Pause.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// stop ends the process (resuming it first if paused) and closes the client.
func (n *Node) stop() error {
	n.mu.Lock()
	if n.cmd != nil && n.paused {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
	}
	n.mu.Unlock()
	err := n.Kill()
	if n.Client != nil {
		_ = n.Client.Close()
	}
	return err
}

func tail(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// InitNew declares the node new with lease.InitNode, so that it grants
// locks without sitting out the restart guard; for a node that was just
// restarted it retries (for up to 2 s) while Client drops its connections to
// the old process. Use it only where the test means a brand-new node: after
// a Restart that stands for a restart without persistence, the guard is the
// point.
func (n *Node) InitNew(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for {
		_, err := lease.InitNode(ctx, n.Client)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leasetest: init %s: %w", n.Addr, errors.Join(err, ctx.Err()))
		case <-time.After(5 * time.Millisecond):
		}
	}
}
