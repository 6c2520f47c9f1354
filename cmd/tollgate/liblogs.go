package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

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

// out formats and logs one gRPC entry, unless level is off (gRPC logs
// connection events at info often: they are not formatted for nothing).
// format is "" for Print-style arguments and "\n" for Println-style.
func (g grpcLogger) out(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !g.log.Enabled(ctx, level) {
		return
	}
	var msg string
	switch format {
	case "":
		msg = fmt.Sprint(args...)
	case "\n":
		msg = strings.TrimSuffix(fmt.Sprintln(args...), "\n")
	default:
		msg = fmt.Sprintf(format, args...)
	}
	g.log.Log(ctx, level, msg)
}

func (g grpcLogger) Info(args ...any)               { g.out(slog.LevelDebug, "", args) }
func (g grpcLogger) Infoln(args ...any)             { g.out(slog.LevelDebug, "\n", args) }
func (g grpcLogger) Infof(f string, args ...any)    { g.out(slog.LevelDebug, f, args) }
func (g grpcLogger) Warning(args ...any)            { g.out(slog.LevelDebug, "", args) }
func (g grpcLogger) Warningln(args ...any)          { g.out(slog.LevelDebug, "\n", args) }
func (g grpcLogger) Warningf(f string, args ...any) { g.out(slog.LevelDebug, f, args) }
func (g grpcLogger) Error(args ...any)              { g.out(slog.LevelError, "", args) }
func (g grpcLogger) Errorln(args ...any)            { g.out(slog.LevelError, "\n", args) }
func (g grpcLogger) Errorf(f string, args ...any)   { g.out(slog.LevelError, f, args) }
func (g grpcLogger) Fatal(args ...any)              { g.fatal("", args) }
func (g grpcLogger) Fatalln(args ...any)            { g.fatal("\n", args) }
func (g grpcLogger) Fatalf(f string, args ...any)   { g.fatal(f, args) }

// V reports whether gRPC's verbose logs (V(1) and up) are on: never.
func (g grpcLogger) V(l int) bool { return l <= 0 }

// fatal logs and exits, as gRPC's LoggerV2 contract requires.
func (g grpcLogger) fatal(format string, args []any) {
	g.out(slog.LevelError, format, args)
	os.Exit(1)
}
