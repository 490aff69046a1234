package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/internal/redisconf"
	"github.com/redlease/redlease/lease"
)

// Config is the worker's configuration: flags, each with an environment
// variable fallback (see options). It holds the Redis passwords inside
// the redis.Options: log Config's fields one by one, never Config itself.
type Config struct {
	TemporalAddress string
	Namespace       string
	TaskQueue       string
	ConnectTimeout  time.Duration // bound on dialling Temporal at start

	Redis        []*redis.Options // the lease nodes, ContextTimeoutEnabled
	LeaseTTL     time.Duration
	RestartGuard time.Duration // lease.WithRestartGuard: also the longest TTL
	NodeTimeout  time.Duration

	StoreRedis *redis.Options // the sample's fenced store; nil: no sample
	StoreName  string

	// TLS is applied to every rediss:// node and store URL (a private
	// CA, a client certificate, a server name).
	TLS redisconf.TLS

	LogLevel        slog.Level
	OTelStdout      bool
	ShutdownTimeout time.Duration // how long Stop waits for running activities

	// TracesOTLP and MetricsOTLP are the OTLP protocols ("grpc" or
	// "http/protobuf") chosen from the OTEL_EXPORTER_OTLP_* variables, or
	// "" when that signal is not exported over OTLP.
	TracesOTLP  string
	MetricsOTLP string
}

// RedisAddrs returns the lease nodes' host:port, safe to log.
func (c Config) RedisAddrs() []string {
	addrs := make([]string, len(c.Redis))
	for i, o := range c.Redis {
		addrs[i] = o.Addr
	}
	return addrs
}

// option is one setting: a flag, its environment variable and how its
// value is applied to a Config.
type option struct {
	flag, env, def, usage string
	arg                   string // the value's kind in -h; none for a boolean flag
	isBool                bool
	apply                 func(c *Config, value string) error
}

// options are the worker's settings in the order -h lists them.
var options = []option{
	{flag: "temporal-address", arg: "host:port", env: "TEMPORAL_ADDRESS", def: "127.0.0.1:7233",
		usage: "host:port of the Temporal frontend",
		apply: func(c *Config, v string) error { c.TemporalAddress = v; return nonEmpty(v) }},
	{flag: "namespace", arg: "name", env: "TEMPORAL_NAMESPACE", def: "default",
		usage: "Temporal namespace",
		apply: func(c *Config, v string) error { c.Namespace = v; return nonEmpty(v) }},
	{flag: "task-queue", arg: "name", env: "REDLEASE_TASK_QUEUE", def: "redlease",
		usage: "task queue the worker polls",
		apply: func(c *Config, v string) error { c.TaskQueue = v; return nonEmpty(v) }},
	{flag: "connect-timeout", arg: "duration", env: "REDLEASE_CONNECT_TIMEOUT", def: "10s",
		usage: "how long to try reaching Temporal at start before giving up",
		apply: func(c *Config, v string) (err error) { c.ConnectTimeout, err = positiveDuration(v); return err }},
	{flag: "redis", arg: "urls", env: "REDLEASE_REDIS_URLS",
		usage: "required: comma-separated redis:// or rediss:// (TLS) URLs of an odd number of independent lease nodes,\n" +
			"e.g. redis://:secret@10.0.0.1:6379/0,redis://10.0.0.2:6379,rediss://user:pw@10.0.0.3:6380",
		apply: func(c *Config, v string) (err error) { c.Redis, err = redisconf.ParseURLs(v); return err }},
	{flag: "redis-tls-ca", arg: "file", env: "REDLEASE_REDIS_TLS_CA",
		usage: "PEM file of the CA(s) that signed the rediss:// nodes' certificates (default: the system's roots)",
		apply: func(c *Config, v string) error { c.TLS.CAFile = v; return nil }},
	{flag: "redis-tls-cert", arg: "file", env: "REDLEASE_REDIS_TLS_CERT",
		usage: "PEM client certificate for rediss:// nodes that require one (mutual TLS); with -redis-tls-key",
		apply: func(c *Config, v string) error { c.TLS.CertFile = v; return nil }},
	{flag: "redis-tls-key", arg: "file", env: "REDLEASE_REDIS_TLS_KEY",
		usage: "PEM key of -redis-tls-cert",
		apply: func(c *Config, v string) error { c.TLS.KeyFile = v; return nil }},
	{flag: "redis-tls-server-name", arg: "name", env: "REDLEASE_REDIS_TLS_SERVER_NAME",
		usage: "name to verify in every rediss:// node's certificate instead of the URL's host",
		apply: func(c *Config, v string) error { c.TLS.ServerName = v; return nil }},
	{flag: "lease-ttl", arg: "duration", env: "REDLEASE_TTL", def: "30s",
		usage: "default time to live of leases",
		apply: func(c *Config, v string) (err error) { c.LeaseTTL, err = positiveDuration(v); return err }},
	{flag: "restart-guard", arg: "duration", env: "REDLEASE_RESTART_GUARD", def: "1m",
		usage: "restart guard: how long a node that lost its data grants no lock; also the longest lease TTL;\n" +
			"use the same value on every client of the nodes",
		apply: func(c *Config, v string) (err error) { c.RestartGuard, err = positiveDuration(v); return err }},
	{flag: "node-timeout", arg: "duration", env: "REDLEASE_NODE_TIMEOUT", def: "100ms",
		usage: "bound on each request to one Redis node",
		apply: func(c *Config, v string) (err error) { c.NodeTimeout, err = positiveDuration(v); return err }},
	{flag: "store-redis", arg: "url", env: "REDLEASE_STORE_URL",
		usage: "optional: redis:// or rediss:// URL of the sample fenced store; when set, the sample\n" +
			"activity exclusivejob.FencedSteps and workflow exclusivejob.StagedJob are registered too",
		apply: func(c *Config, v string) (err error) {
			if v == "" {
				c.StoreRedis = nil
				return nil
			}
			c.StoreRedis, err = redisconf.ParseURL(v)
			return err
		}},
	{flag: "store-name", arg: "name", env: "REDLEASE_STORE_NAME", def: "redlease-demo",
		usage: "name of the sample fenced store (its Redis keys' hash tag)",
		apply: func(c *Config, v string) error { c.StoreName = v; return nonEmpty(v) }},
	{flag: "log-level", arg: "level", env: "REDLEASE_LOG_LEVEL", def: "info",
		usage: "debug, info, warn or error",
		apply: func(c *Config, v string) (err error) { c.LogLevel, err = parseLevel(v); return err }},
	{flag: "otel-stdout", env: "REDLEASE_OTEL_STDOUT", def: "false", isBool: true,
		usage: "also export spans to stdout, one JSON object per span",
		apply: func(c *Config, v string) (err error) {
			if c.OTelStdout, err = strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%q is not a boolean", v)
			}
			return nil
		}},
	{flag: "shutdown-timeout", arg: "duration", env: "REDLEASE_SHUTDOWN_TIMEOUT", def: "30s",
		usage: "on SIGINT/SIGTERM, how long to wait for running activities",
		apply: func(c *Config, v string) (err error) { c.ShutdownTimeout, err = positiveDuration(v); return err }},
}

// rawValue is a flag that keeps its text and whether it was given, so
// that an unset flag falls back to its environment variable.
type rawValue struct {
	text   string
	set    bool
	isBool bool
}

func (v *rawValue) String() string     { return v.text }
func (v *rawValue) Set(s string) error { v.text, v.set = s, true; return nil }
func (v *rawValue) IsBoolFlag() bool   { return v.isBool }

// newFlagSet returns the worker's flags, silent (parseConfig reports
// errors itself), and their values by flag name.
func newFlagSet() (*flag.FlagSet, map[string]*rawValue) {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	values := make(map[string]*rawValue, len(options))
	for _, o := range options {
		v := &rawValue{text: o.def, isBool: o.isBool}
		values[o.flag] = v
		fs.Var(v, o.flag, o.usage)
	}
	return fs, values
}

// parseConfig reads the configuration from args (without the program
// name) and, for each flag not given, from getenv; a flag wins over its
// variable, an empty variable counts as unset. It returns flag.ErrHelp for
// -h, and otherwise an error naming the flag or variable at fault.
func parseConfig(args []string, getenv func(string) string) (Config, error) {
	fs, values := newFlagSet()
	if err := fs.Parse(args); err != nil {
		return Config{}, err // flag.ErrHelp, or "flag provided but not defined: -x"
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: the worker takes flags only", fs.Arg(0))
	}
	var cfg Config
	source := make(map[string]string, len(options)) // flag name → what set it, for messages
	for _, o := range options {
		v := values[o.flag]
		text, src := v.text, "-"+o.flag
		if !v.set {
			if env := getenv(o.env); env != "" {
				text, src = env, o.env+" (-"+o.flag+")"
			}
		}
		source[o.flag] = src
		if o.flag == "redis" && text == "" {
			return Config{}, errors.New("-redis (or REDLEASE_REDIS_URLS) is required: comma-separated redis:// URLs of an odd number of lease nodes")
		}
		if err := o.apply(&cfg, text); err != nil {
			return Config{}, fmt.Errorf("invalid %s: %w", src, err)
		}
	}
	if err := cfg.TLS.Apply(append(cfg.Redis, cfg.StoreRedis)...); err != nil {
		return Config{}, fmt.Errorf("invalid TLS settings (-redis-tls-*): %w", err)
	}
	if err := checkLeaseSettings(cfg); err != nil {
		var invalid *lease.InvalidInputError
		flagName := "redis"
		if errors.As(err, &invalid) {
			switch invalid.Field {
			case "ttl":
				flagName = "lease-ttl"
			case "node timeout":
				flagName = "node-timeout"
			case "restart guard":
				flagName = "restart-guard"
			}
		}
		if errors.Is(err, lease.ErrTTLAboveGuard) {
			// Either flag can be the one to change: name both.
			return Config{}, fmt.Errorf("invalid %s, above %s: %w", source[flagName], source["restart-guard"], err)
		}
		return Config{}, fmt.Errorf("invalid %s: %w", source[flagName], err)
	}
	var err error
	if cfg.TracesOTLP, err = otlpProtocol(getenv, "TRACES"); err != nil {
		return Config{}, err
	}
	if cfg.MetricsOTLP, err = otlpProtocol(getenv, "METRICS"); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// leaseOptions are the lease.New options the configuration sets: the
// same for checkLeaseSettings and the worker's lease client.
func leaseOptions(cfg Config) []lease.Option {
	return []lease.Option{
		lease.WithTTL(cfg.LeaseTTL),
		lease.WithNodeTimeout(cfg.NodeTimeout),
		lease.WithRestartGuard(cfg.RestartGuard),
	}
}

// checkLeaseSettings lets lease.New judge the nodes, TTL, node timeout and
// restart guard (odd count of distinct nodes, a TTL that leaves validity
// and does not exceed the guard), on clients that never connect.
func checkLeaseSettings(cfg Config) error {
	nodes := make([]lease.Node, len(cfg.Redis))
	clients := make([]*redis.Client, len(cfg.Redis))
	for i, o := range cfg.Redis {
		clients[i] = redis.NewClient(o) // NewClient copies o; nothing connects until a request
		nodes[i] = clients[i]
	}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	lc, err := lease.New(nodes, leaseOptions(cfg)...)
	if err != nil {
		return err
	}
	return lc.Close()
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("empty value")
	}
	return nil
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. 500ms, 30s, 2m)", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%v is not positive", d)
	}
	return d, nil
}

func parseLevel(v string) (slog.Level, error) {
	switch strings.ToLower(v) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", v)
}

// otlpProtocol is the OTLP protocol of signal ("TRACES" or "METRICS"):
// "" when neither OTEL_EXPORTER_OTLP_<signal>_ENDPOINT nor
// OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise
// OTEL_EXPORTER_OTLP_<signal>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL,
// else "http/protobuf" (the specification's default).
func otlpProtocol(getenv func(string) string, signal string) (string, error) {
	if getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return "", nil
	}
	name := "OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"
	proto := getenv(name)
	if proto == "" {
		name = "OTEL_EXPORTER_OTLP_PROTOCOL"
		proto = getenv(name)
	}
	switch proto {
	case "":
		return "http/protobuf", nil
	case "grpc", "http/protobuf":
		return proto, nil
	}
	return "", fmt.Errorf("invalid %s: protocol %q is not supported (want grpc or http/protobuf)", name, proto)
}

// printUsage writes the -h text.
func printUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: worker [flags]

The redlease Temporal worker: registers the lease activities, the
ExclusiveJob workflow and, with -store-redis, the samples (the exclusive
job and the permit pool), then polls its task queue until SIGINT or SIGTERM.

Each flag falls back to its environment variable (env) when not given; a flag
given on the command line wins. Flags:

`)
	for _, o := range options {
		fmt.Fprintf(w, "  -%s", o.flag)
		if o.arg != "" {
			fmt.Fprintf(w, " %s", o.arg)
		}
		fmt.Fprintf(w, "\n      env %s", o.env)
		if o.def != "" && !o.isBool {
			fmt.Fprintf(w, ", default %s", o.def)
		}
		fmt.Fprintf(w, "\n      %s\n", strings.ReplaceAll(o.usage, "\n", "\n      "))
	}
	fmt.Fprint(w, `
OpenTelemetry (standard variables): OTEL_SERVICE_NAME (default
redlease-worker), OTEL_RESOURCE_ATTRIBUTES; OTLP export of traces when
OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set,
of metrics when OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is set, over
OTEL_EXPORTER_OTLP[_TRACES|_METRICS]_PROTOCOL = grpc or http/protobuf
(default http/protobuf).

Exit status: 0 after a clean shutdown, 1 when Temporal cannot be reached
or the worker fails, 2 for bad configuration.
`)
}
