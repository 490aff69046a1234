// Command redlease shows and fixes what is held on the lease nodes: who
// holds a resource, since when and until when, with which token; which
// resources are held; and it frees a stuck resource.
//
//	go install github.com/redlease/redlease/cmd/redlease@latest
//	redlease status printer-7 -redis redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379
//	redlease list -prefix printer- -o json
//	redlease release printer-7 -holder default/job-1/<run id>/default
//
// It is configured like the worker: -redis (REDLEASE_REDIS_URLS), the
// -redis-tls-* settings (REDLEASE_REDIS_TLS_*), -node-timeout, and
// -restart-guard; -o json for scripts, -temporal-ui (TEMPORAL_UI) for
// links to a holder's workflow. It never prints an owner value (a
// credential), only its owner id, a digest that tells owners apart.
//
// Exit status: 0 done; 1 failed (status: fewer than a quorum of nodes
// answered; doctor: something is unsafe); 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const usage = `Usage: redlease COMMAND [arguments] [flags]

Commands:
  status RESOURCE   per node: held / free / release tombstone / down, holder
                    (a Temporal workflow: namespace, workflow, run, with a web UI
                    link given -temporal-ui), owner id, TTL, fence counter, restart
                    guard; and the verdict: held by whom on how many nodes, valid
                    for how long, highest token
  list              resources with a lock on some node (-prefix P, -max N), with
                    their verdicts; SCAN, bounded, never KEYS
  release RESOURCE  free a stuck resource: -holder H, or -force for an unknown
                    owner (asks for confirmation); 'redlease release -h' says
                    what it does to a live holder
  doctor            check the nodes against what the guarantees need, one line
                    per finding with its fix: independent masters (not one
                    server twice, not a replica, not Redis Cluster), persistence,
                    eviction policy, clocks, latency, script cache, restart guard;
                    exit status 1 when something is unsafe (gate a deploy on it)

Every command takes -redis (REDLEASE_REDIS_URLS, required), -redis-tls-ca,
-redis-tls-cert, -redis-tls-key, -redis-tls-server-name (REDLEASE_REDIS_TLS_*),
-node-timeout (500ms), -restart-guard (1m), -o table|json (REDLEASE_OUTPUT),
-temporal-ui (TEMPORAL_UI). 'redlease COMMAND -h' lists them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// clock is this machine's clock, as doctor reads it (tests skew it).
var clock = time.Now

// errUsage marks a usage error (exit 2); its message is printed.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// run runs one command and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	err := command(ctx, args[0], args[1:], getenv, stdin, stdout, stderr)
	var u errUsage
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		fmt.Fprintln(stderr, "redlease:", err)
		return 2
	}
	fmt.Fprintln(stderr, "redlease:", err)
	return 1
}

func command(ctx context.Context, name string, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("redlease "+name, stderr)
	settings := flags(fs)
	var prefix, holder, epoch, owner string
	var maxN int
	var force, yes bool
	switch name {
	case "status":
		fs.Usage = func() { fmt.Fprintf(stderr, "Usage: redlease status RESOURCE [flags]\n\nFlags:\n"); fs.PrintDefaults() }
	case "list":
		fs.StringVar(&prefix, "prefix", "", "only resources whose names start with this")
		fs.IntVar(&maxN, "max", 100, "list at most this many resources")
		fs.Usage = func() {
			fmt.Fprintf(stderr, "Usage: redlease list [-prefix P] [-max N] [flags]\n\nFlags:\n")
			fs.PrintDefaults()
		}
	case "doctor":
		fs.Usage = func() { fmt.Fprintf(stderr, "Usage: redlease doctor [flags]\n\nFlags:\n"); fs.PrintDefaults() }
	case "release":
		fs.StringVar(&holder, "holder", "", "release what this holder holds")
		fs.StringVar(&epoch, "epoch", "", "with -holder: end its scopes started at or before this epoch (default: now)")
		fs.BoolVar(&force, "force", false, "release the current owner, whoever it is")
		fs.StringVar(&owner, "owner", "", "with -force: the owner id to release (default: the owner holding a quorum)")
		fs.BoolVar(&yes, "yes", false, "with -force: do not ask for confirmation")
		fs.Usage = func() { fmt.Fprint(stderr, releaseHelp); fs.PrintDefaults() }
	default:
		return errUsage{fmt.Sprintf("unknown command %q (status, list, release, doctor; redlease -h)", name)}
	}
	positional, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage{err.Error()}
	}
	cfg, err := resolve(fs, settings, getenv)
	if err != nil {
		return errUsage{err.Error()}
	}
	p := newPrinter(stdout, cfg.output, getenv)
	switch name {
	case "status":
		if len(positional) != 1 {
			return errUsage{"status takes one RESOURCE"}
		}
		return runStatus(ctx, cfg, p, positional[0])
	case "list":
		if len(positional) != 0 || maxN < 1 {
			return errUsage{"list takes no arguments, and -max must be positive (got " + strconv.Itoa(maxN) + ")"}
		}
		return runList(ctx, cfg, p, prefix, maxN)
	case "doctor":
		if len(positional) != 0 {
			return errUsage{"doctor takes no arguments"}
		}
		return runDoctor(ctx, cfg, p, clock)
	default: // release
		switch {
		case len(positional) != 1:
			return errUsage{"release takes one RESOURCE"}
		case (holder == "") == !force:
			return errUsage{"release needs exactly one of -holder and -force"}
		case holder == "" && epoch != "":
			return errUsage{"-epoch goes with -holder"}
		case !force && (owner != "" || yes):
			return errUsage{"-owner and -yes go with -force"}
		}
		return runRelease(ctx, cfg, p, positional[0], holder, epoch, force, owner, yes, stdin, stderr)
	}
}
