package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisLogLinesAreSlogRecords makes go-redis fail to dial a closed
// loopback port and checks that its "failed to dial" line reached the
// worker's slog logger as a JSON record at WARN, not raw text.
func TestRedisLogLinesAreSlogRecords(t *testing.T) {
	var out lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&out, nil)) // default level: INFO
	installRedisLogger(logger)
	t.Cleanup(restoreRedisDefaultLogger)

	addr := closedPort(t)
	c := redis.NewClient(&redis.Options{
		Addr:          addr,
		MaxRetries:    -1,
		DialTimeout:   200 * time.Millisecond,
		DialerRetries: 1, // no backoff between dial attempts
	})
	defer func() { _ = c.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatalf("PING to closed port %s succeeded", addr)
	}
	// go-redis logs the failed dial before it hands the error back to PING.

	text := out.String()
	var found bool
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not a JSON record: %v\n%s", err, sc.Text())
		}
		msg, _ := rec["msg"].(string)
		if rec["level"] == "WARN" && rec["component"] == "go-redis" &&
			strings.Contains(msg, "failed to dial") && strings.Contains(msg, addr) {
			found = true
		}
	}
	if !found {
		t.Fatalf("no WARN record with component=go-redis carrying the dial failure to %s; log:\n%s", addr, text)
	}
}

// restoreRedisDefaultLogger puts back a logger like go-redis's default.
// go-redis offers no getter for its current logger, so the previous one
// cannot be saved; this writes to os.Stderr in go-redis's default format
// (prefix "redis: ", log.LstdFlags|log.Lshortfile, the file:line of
// go-redis's caller).
func restoreRedisDefaultLogger() {
	redis.SetLogger(stderrRedisLogger{log.New(os.Stderr, "redis: ", log.LstdFlags|log.Lshortfile)})
}

type stderrRedisLogger struct{ log *log.Logger }

func (l stderrRedisLogger) Printf(_ context.Context, format string, v ...any) {
	// 3: this Printf, go-redis's forwarding Printf, the line that logs.
	_ = l.log.Output(3, fmt.Sprintf(format, v...))
}

// lockedBuffer is a bytes.Buffer safe for go-redis's goroutines to write
// while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
