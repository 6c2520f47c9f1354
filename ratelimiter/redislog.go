package ratelimiter

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// LogRedisTo sends go-redis's own log lines to log, as warnings with
// component=go-redis, instead of plain lines on stderr that break a JSON
// log. go-redis has one logger per process, so this is process-wide:
// `tollgate serve` calls it once, at start.
func LogRedisTo(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

// redisLogger adapts slog to go-redis's logging interface.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")
	l.log.WarnContext(ctx, msg, "component", "go-redis")
}
