package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redlease/redlease/lease"
)

const threeNodes = "redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003"

// env is a getenv over a map.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := parseConfig([]string{"-redis", threeNodes}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TemporalAddress", cfg.TemporalAddress, "127.0.0.1:7233"},
		{"Namespace", cfg.Namespace, "default"},
		{"TaskQueue", cfg.TaskQueue, "redlease"},
		{"ConnectTimeout", cfg.ConnectTimeout, 10 * time.Second},
		{"LeaseTTL", cfg.LeaseTTL, 30 * time.Second},
		{"RestartGuard", cfg.RestartGuard, time.Minute},
		{"NodeTimeout", cfg.NodeTimeout, 100 * time.Millisecond},
		{"StoreRedis is nil", cfg.StoreRedis == nil, true},
		{"StoreName", cfg.StoreName, "redlease-demo"},
		{"LogLevel", cfg.LogLevel, slog.LevelInfo},
		{"OTelStdout", cfg.OTelStdout, false},
		{"ShutdownTimeout", cfg.ShutdownTimeout, 30 * time.Second},
		{"TracesOTLP", cfg.TracesOTLP, ""},
		{"MetricsOTLP", cfg.MetricsOTLP, ""},
		{"RedisAddrs", strings.Join(cfg.RedisAddrs(), ","), "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for i, o := range cfg.Redis {
		if !o.ContextTimeoutEnabled {
			t.Errorf("node %d: ContextTimeoutEnabled is false", i)
		}
	}
}

// allEnv sets every variable to a non-default value.
var allEnv = map[string]string{
	"TEMPORAL_ADDRESS":          "temporal.example:7233",
	"TEMPORAL_NAMESPACE":        "jobs",
	"REDLEASE_TASK_QUEUE":       "q-env",
	"REDLEASE_CONNECT_TIMEOUT":  "3s",
	"REDLEASE_REDIS_URLS":       "redis://:pw@10.0.0.1:6379/2, rediss://u:pw@10.0.0.2:6380 ,redis://10.0.0.3",
	"REDLEASE_TTL":              "20s",
	"REDLEASE_RESTART_GUARD":    "2m",
	"REDLEASE_NODE_TIMEOUT":     "250ms",
	"REDLEASE_STORE_URL":        "redis://10.0.0.9:6379/1",
	"REDLEASE_STORE_NAME":       "store-env",
	"REDLEASE_LOG_LEVEL":        "DEBUG",
	"REDLEASE_OTEL_STDOUT":      "true",
	"REDLEASE_SHUTDOWN_TIMEOUT": "1m",
}

func TestParseConfigFromEnvironment(t *testing.T) {
	cfg, err := parseConfig(nil, env(allEnv))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TemporalAddress", cfg.TemporalAddress, "temporal.example:7233"},
		{"Namespace", cfg.Namespace, "jobs"},
		{"TaskQueue", cfg.TaskQueue, "q-env"},
		{"ConnectTimeout", cfg.ConnectTimeout, 3 * time.Second},
		{"RedisAddrs", strings.Join(cfg.RedisAddrs(), ","), "10.0.0.1:6379,10.0.0.2:6380,10.0.0.3:6379"},
		{"node 0 password", cfg.Redis[0].Password, "pw"},
		{"node 0 db", cfg.Redis[0].DB, 2},
		{"node 1 user", cfg.Redis[1].Username, "u"},
		{"node 1 TLS", cfg.Redis[1].TLSConfig != nil && cfg.Redis[1].TLSConfig.ServerName == "10.0.0.2", true},
		{"node 0 no TLS", cfg.Redis[0].TLSConfig == nil, true},
		{"LeaseTTL", cfg.LeaseTTL, 20 * time.Second},
		{"RestartGuard", cfg.RestartGuard, 2 * time.Minute},
		{"NodeTimeout", cfg.NodeTimeout, 250 * time.Millisecond},
		{"StoreRedis", cfg.StoreRedis != nil && cfg.StoreRedis.Addr == "10.0.0.9:6379" && cfg.StoreRedis.DB == 1, true},
		{"StoreRedis ContextTimeoutEnabled", cfg.StoreRedis != nil && cfg.StoreRedis.ContextTimeoutEnabled, true},
		{"StoreName", cfg.StoreName, "store-env"},
		{"LogLevel", cfg.LogLevel, slog.LevelDebug},
		{"OTelStdout", cfg.OTelStdout, true},
		{"ShutdownTimeout", cfg.ShutdownTimeout, time.Minute},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseConfigFlagsWinOverEnvironment(t *testing.T) {
	args := []string{
		"-temporal-address", "10.1.1.1:7233",
		"-namespace", "ns-flag",
		"-task-queue", "q-flag",
		"-connect-timeout", "4s",
		"-redis", "redis://127.0.0.1:9000",
		"-lease-ttl", "15s",
		"-restart-guard", "90s",
		"-node-timeout", "75ms",
		"-store-redis", "redis://127.0.0.1:9001",
		"-store-name", "store-flag",
		"-log-level", "warn",
		"-otel-stdout=false",
		"-shutdown-timeout", "5s",
	}
	cfg, err := parseConfig(args, env(allEnv))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TemporalAddress", cfg.TemporalAddress, "10.1.1.1:7233"},
		{"Namespace", cfg.Namespace, "ns-flag"},
		{"TaskQueue", cfg.TaskQueue, "q-flag"},
		{"ConnectTimeout", cfg.ConnectTimeout, 4 * time.Second},
		{"RedisAddrs", strings.Join(cfg.RedisAddrs(), ","), "127.0.0.1:9000"},
		{"LeaseTTL", cfg.LeaseTTL, 15 * time.Second},
		{"RestartGuard", cfg.RestartGuard, 90 * time.Second},
		{"NodeTimeout", cfg.NodeTimeout, 75 * time.Millisecond},
		{"StoreRedis", cfg.StoreRedis.Addr, "127.0.0.1:9001"},
		{"StoreName", cfg.StoreName, "store-flag"},
		{"LogLevel", cfg.LogLevel, slog.LevelWarn},
		{"OTelStdout", cfg.OTelStdout, false},
		{"ShutdownTimeout", cfg.ShutdownTimeout, 5 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseConfigBooleanFlagAlone(t *testing.T) {
	cfg, err := parseConfig([]string{"-otel-stdout", "-redis", threeNodes}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.OTelStdout {
		t.Fatal("-otel-stdout without a value did not enable it")
	}
}

func TestParseConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		if _, err := parseConfig([]string{arg}, env(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: error %v, want flag.ErrHelp", arg, err)
		}
	}
}

func TestParseConfigErrors(t *testing.T) {
	withRedis := func(args ...string) []string { return append([]string{"-redis", threeNodes}, args...) }
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"missing redis", nil, nil, []string{"-redis", "REDLEASE_REDIS_URLS", "required"}},
		{"empty redis flag", []string{"-redis", ""}, nil, []string{"-redis", "required"}},
		{"even node count", []string{"-redis", "redis://127.0.0.1:1,redis://127.0.0.1:2"}, nil, []string{"-redis", "2 nodes", "odd"}},
		{"even node count from env", nil, map[string]string{"REDLEASE_REDIS_URLS": "redis://a:1,redis://b:1"}, []string{"REDLEASE_REDIS_URLS", "-redis", "odd"}},
		{"duplicate node", []string{"-redis", "redis://127.0.0.1:1,redis://127.0.0.1:1,redis://127.0.0.1:2"}, nil, []string{"-redis", "node 1 is on the same server as node 0"}},
		{"bad scheme", []string{"-redis", "http://127.0.0.1:1"}, nil, []string{"-redis", "scheme"}},
		{"bad db", []string{"-redis", "redis://127.0.0.1:1/x"}, nil, []string{"-redis", "database"}},
		{"empty entry", []string{"-redis", "redis://a:1,,redis://b:1"}, nil, []string{"-redis", "URL 2 of 3 is empty"}},
		{"not a URL", []string{"-redis", "redis://a:1,redis://b:1,redis://c:port"}, nil, []string{"-redis", "URL 3 of 3", "not a URL"}},
		{"bad store URL", withRedis("-store-redis", "tcp://a:1"), nil, []string{"-store-redis", "scheme"}},
		{"bad store URL from env", withRedis(), map[string]string{"REDLEASE_STORE_URL": "redis://a:1/a/b"}, []string{"REDLEASE_STORE_URL", "-store-redis"}},
		{"bad ttl", withRedis("-lease-ttl", "30"), nil, []string{"-lease-ttl", `"30" is not a duration`}},
		{"bad ttl from env", withRedis(), map[string]string{"REDLEASE_TTL": "soon"}, []string{"REDLEASE_TTL", "-lease-ttl"}},
		{"negative ttl", withRedis("-lease-ttl", "-1s"), nil, []string{"-lease-ttl", "not positive"}},
		{"ttl leaves no validity", withRedis("-lease-ttl", "100ms", "-node-timeout", "60ms"), nil, []string{"-lease-ttl", "leaves no validity"}},
		{"ttl above the default restart guard", withRedis("-lease-ttl", "2m"), nil, []string{"-lease-ttl", "-restart-guard", "2m0s is longer than the restart guard (1m0s)"}},
		{"ttl from env above the restart guard", withRedis("-restart-guard", "30s"), map[string]string{"REDLEASE_TTL": "45s"}, []string{"REDLEASE_TTL (-lease-ttl)", "-restart-guard", "longer than the restart guard (30s)"}},
		{"ttl above the restart guard from env", withRedis("-lease-ttl", "90s"), map[string]string{"REDLEASE_RESTART_GUARD": "80s"}, []string{"-lease-ttl", "REDLEASE_RESTART_GUARD (-restart-guard)", "longer than the restart guard (1m20s)"}},
		{"bad restart guard", withRedis("-restart-guard", "1"), nil, []string{"-restart-guard", `"1" is not a duration`}},
		{"zero restart guard", withRedis("-restart-guard", "0s"), nil, []string{"-restart-guard", "not positive"}},
		{"bad restart guard from env", withRedis(), map[string]string{"REDLEASE_RESTART_GUARD": "-1m"}, []string{"REDLEASE_RESTART_GUARD", "-restart-guard", "not positive"}},
		{"bad node timeout", withRedis("-node-timeout", "fast"), nil, []string{"-node-timeout"}},
		{"zero node timeout", withRedis("-node-timeout", "0s"), nil, []string{"-node-timeout", "not positive"}},
		{"bad connect timeout", withRedis("-connect-timeout", "x"), nil, []string{"-connect-timeout"}},
		{"bad shutdown timeout", withRedis("-shutdown-timeout", "x"), nil, []string{"-shutdown-timeout"}},
		{"bad shutdown timeout from env", withRedis(), map[string]string{"REDLEASE_SHUTDOWN_TIMEOUT": "0"}, []string{"REDLEASE_SHUTDOWN_TIMEOUT"}},
		{"unknown log level", withRedis("-log-level", "loud"), nil, []string{"-log-level", `"loud"`}},
		{"unknown log level from env", withRedis(), map[string]string{"REDLEASE_LOG_LEVEL": "trace"}, []string{"REDLEASE_LOG_LEVEL", "-log-level"}},
		{"bad bool", withRedis("-otel-stdout=maybe"), nil, []string{"-otel-stdout", "boolean"}},
		{"bad bool from env", withRedis(), map[string]string{"REDLEASE_OTEL_STDOUT": "yes please"}, []string{"REDLEASE_OTEL_STDOUT"}},
		{"empty task queue", withRedis("-task-queue", ""), nil, []string{"-task-queue", "empty"}},
		{"empty namespace", withRedis("-namespace", " "), nil, []string{"-namespace", "empty"}},
		{"empty temporal address", withRedis("-temporal-address", ""), nil, []string{"-temporal-address", "empty"}},
		{"empty store name", withRedis("-store-name", ""), nil, []string{"-store-name", "empty"}},
		{"unknown flag", withRedis("-verbose"), nil, []string{"-verbose", "not defined"}},
		{"TLS settings without a rediss node", withRedis("-redis-tls-server-name", "n.example"), nil, []string{"-redis-tls", "no URL is rediss://"}},
		{"TLS cert without key", []string{"-redis", "rediss://a:1,rediss://b:1,rediss://c:1", "-redis-tls-cert", "/x/c.pem"}, nil, []string{"-redis-tls", "both its certificate file and its key file"}},
		{"TLS CA missing, from env", []string{"-redis", "rediss://a:1,rediss://b:1,rediss://c:1"}, map[string]string{"REDLEASE_REDIS_TLS_CA": "/nonexistent/ca.pem"}, []string{"-redis-tls", "CA file", "no such file"}},
		{"positional argument", withRedis("run"), nil, []string{`"run"`}},
		{"unsupported OTLP protocol", withRedis(), map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"}},
		{"unsupported OTLP metrics protocol", withRedis(), map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "udp"}, []string{"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, env(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestParseConfigTTLWithinTheRestartGuard: a TTL up to the guard is
// accepted, so a longer TTL needs a raised -restart-guard, which
// checkLeaseSettings must pass on to lease.New.
func TestParseConfigTTLWithinTheRestartGuard(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		ttl, want time.Duration
	}{
		{"ttl equal to the default guard", []string{"-lease-ttl", "1m"}, nil, time.Minute, time.Minute},
		{"ttl 2m under a 3m guard", []string{"-lease-ttl", "2m", "-restart-guard", "3m"}, nil, 2 * time.Minute, 3 * time.Minute},
		{"both from env", nil, map[string]string{"REDLEASE_TTL": "2m", "REDLEASE_RESTART_GUARD": "3m"}, 2 * time.Minute, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig(append([]string{"-redis", threeNodes}, tt.args...), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LeaseTTL != tt.ttl || cfg.RestartGuard != tt.want {
				t.Fatalf("LeaseTTL %v RestartGuard %v, want %v %v", cfg.LeaseTTL, cfg.RestartGuard, tt.ttl, tt.want)
			}
		})
	}
}

// TestLeaseOptionsSetTheRestartGuard: the options the worker's lease
// client is built with (newServices) carry the guard: a client made
// with them accepts a lease TTL up to the guard and refuses a longer one.
func TestLeaseOptionsSetTheRestartGuard(t *testing.T) {
	cfg, err := parseConfig([]string{"-redis", threeNodes, "-restart-guard", "3m"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]lease.Node, 3)
	for i := range nodes {
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", 7001+i)}) // never connects
		t.Cleanup(func() { _ = c.Close() })
		nodes[i] = c
	}
	lc, err := lease.New(nodes, append(leaseOptions(cfg), lease.WithTTL(3*time.Minute))...)
	if err != nil {
		t.Fatalf("TTL equal to the 3m guard refused: %v", err)
	}
	if err := lc.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = lease.New(nodes, append(leaseOptions(cfg), lease.WithTTL(3*time.Minute+time.Second))...)
	if !errors.Is(err, lease.ErrTTLAboveGuard) {
		t.Fatalf("TTL above the 3m guard: error %v, want ErrTTLAboveGuard", err)
	}
}

func TestRedisErrorsNeverShowThePassword(t *testing.T) {
	for _, url := range []string{
		"redis://user:hunter2@127.0.0.1:1/notadb",
		"redis://:hunter2@127.0.0.1:notaport",
		"redis://:hunter2@127.0.0.1:1/0?dial_timeout=nope",
		"http://:hunter2@127.0.0.1:1",
		"redis://:hunter2@a:1,redis://:hunter2@b:1",
	} {
		_, err := parseConfig([]string{"-redis", url}, env(nil))
		if err == nil {
			t.Errorf("%s: no error", url)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestOTLPProtocol(t *testing.T) {
	tests := []struct {
		name           string
		env            map[string]string
		traces, metric string
	}{
		{"nothing set", nil, "", ""},
		{"common endpoint: default protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http/protobuf", "http/protobuf"},
		{"common endpoint and protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc", "grpc"},
		{"traces only", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "grpc", ""},
		{"metrics only, common protocol", map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "", "grpc"},
		{"signal protocol wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}, "grpc", "http/protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig([]string{"-redis", threeNodes}, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TracesOTLP != tt.traces || cfg.MetricsOTLP != tt.metric {
				t.Fatalf("traces %q metrics %q, want %q %q", cfg.TracesOTLP, cfg.MetricsOTLP, tt.traces, tt.metric)
			}
		})
	}
}

func TestUsageListsEveryFlagAndVariable(t *testing.T) {
	var b strings.Builder
	printUsage(&b)
	for _, o := range options {
		if !strings.Contains(b.String(), "-"+o.flag) || !strings.Contains(b.String(), o.env) {
			t.Errorf("-h does not show -%s / %s", o.flag, o.env)
		}
	}
}
