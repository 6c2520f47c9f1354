package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/accesslog"
	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/policy"
)

// accessLogComponent receives Envoy's access-log streams (policies with
// access_log: { grpc: true }) and writes them as JSON lines to
// --access-log-output. It has nothing to compile per policy generation.
func accessLogComponent(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (component, error) {
	out, err := accessLogOutput(ctx, c.accessLogOutput)
	if err != nil {
		return component{}, err
	}
	s := accesslog.NewServer(out, log, reg)
	return component{
		stage:    func(context.Context, *policy.Policy) (func(), error) { return func() {}, nil },
		register: func(g *grpc.Server, _ *admin.Server) { s.Register(g) },
	}, nil
}

// accessLogOutput opens the sink: "-" is standard output, anything else a
// file appended to and closed when ctx ends.
func accessLogOutput(ctx context.Context, path string) (io.Writer, error) {
	if path == "-" || path == "" {
		return os.Stdout, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("--access-log-output: %w", err)
	}
	go func() { <-ctx.Done(); _ = f.Close() }()
	return f, nil
}
