package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisLogger is go-redis's global logger (the Printf of
// redis.SetLogger) written to the worker's slog logger, so that go-redis's
// own lines — "redis: connection pool: failed to dial after N attempts:
// ...", repeated per request while a node is down — come out as
// structured records like the worker's others instead of raw text on
// stderr. Each line is one record at WARN whose message is the formatted
// text and whose attribute component is "go-redis".
type redisLogger struct{ logger *slog.Logger }

// installRedisLogger makes logger go-redis's process-wide logger. The
// worker calls it once at start, before it creates any Redis client.
func installRedisLogger(logger *slog.Logger) {
	redis.SetLogger(redisLogger{logger.With("component", "go-redis")})
}

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\n")
	l.logger.Log(ctx, slog.LevelWarn, msg)
}
