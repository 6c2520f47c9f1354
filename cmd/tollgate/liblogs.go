package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"

	"github.com/tollgate/tollgate/ratelimiter"
)

// routeLibraryLogs sends every library's logging through log, so that a
// JSON log stays one JSON object per line whatever writes to it: go-redis
// (which prints a plain line per failed dial while Redis is down), gRPC,
// and anything using the standard log package (slog.SetDefault redirects
// it). go-control-plane's logger is set where its cache is built
// (xds.NewServer). Called once, before any gRPC or Redis activity:
// grpclog.SetLoggerV2 is not safe to call later.
func routeLibraryLogs(log *slog.Logger) {
	slog.SetDefault(log)
	ratelimiter.LogRedisTo(log)
	grpclog.SetLoggerV2(grpcLogger{log.With("component", "grpc")})
}

// grpcLogger adapts slog to gRPC's LoggerV2. gRPC's own default shows
// errors only; its info and warnings (connection churn, mostly) are kept
// at debug level here, so --log-level debug shows them.
type grpcLogger struct{ log *slog.Logger }

var _ grpclog.LoggerV2 = grpcLogger{}

func (g grpcLogger) out(level slog.Level, msg string) {
	g.log.Log(context.Background(), level, msg)
}

func (g grpcLogger) Info(args ...any)               { g.out(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Infoln(args ...any)             { g.out(slog.LevelDebug, sprintln(args)) }
func (g grpcLogger) Infof(f string, args ...any)    { g.out(slog.LevelDebug, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Warning(args ...any)            { g.out(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)          { g.out(slog.LevelDebug, sprintln(args)) }
func (g grpcLogger) Warningf(f string, args ...any) { g.out(slog.LevelDebug, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Error(args ...any)              { g.out(slog.LevelError, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any)            { g.out(slog.LevelError, sprintln(args)) }
func (g grpcLogger) Errorf(f string, args ...any)   { g.out(slog.LevelError, fmt.Sprintf(f, args...)) }
func (g grpcLogger) Fatal(args ...any)              { g.fatal(fmt.Sprint(args...)) }
func (g grpcLogger) Fatalln(args ...any)            { g.fatal(sprintln(args)) }
func (g grpcLogger) Fatalf(f string, args ...any)   { g.fatal(fmt.Sprintf(f, args...)) }
func (g grpcLogger) V(l int) bool                   { return l <= 0 }

// fatal logs and exits, as gRPC's LoggerV2 contract requires.
func (g grpcLogger) fatal(msg string) {
	g.out(slog.LevelError, msg)
	os.Exit(1)
}

// sprintln is fmt.Sprintln without the newline a log entry has no use for.
func sprintln(args []any) string {
	s := fmt.Sprintln(args...)
	return s[:len(s)-1]
}
