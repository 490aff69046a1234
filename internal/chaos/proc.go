package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/redlease/redlease/internal/childproc"
)

// BuildClient builds the client process (cmd internal/chaos/client) with
// the fault seam compiled in, into dir, and returns its path.
func BuildClient(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("chaos: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "chaos-client")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "redlease_faults", "-o", bin, "./internal/chaos/client")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("chaos: build the client: %w\n%s", err, b)
	}
	return bin, nil
}

// clientProc is one running client process.
type clientProc struct {
	proc   int
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
	cfg    ClientConfig
}

// startClient starts bin with cfg; env adds fault seam variables.
func startClient(bin string, cfg ClientConfig, env ...string) (*clientProc, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	p := &clientProc{proc: cfg.Proc, cfg: cfg, done: make(chan error, 1)}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(append(os.Environ(), ClientEnv+"="+string(b)), env...)
	p.cmd.Stderr = &p.stderr
	childproc.DieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start client %d: %w", cfg.Proc, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	return p, nil
}

func (p *clientProc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// wait waits for the process and reports a failure with its stderr.
func (p *clientProc) wait() error {
	err := <-p.done
	p.done <- err // later waits see it too
	if err != nil {
		return fmt.Errorf("%w: %s", err, tail(p.stderr.String(), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
