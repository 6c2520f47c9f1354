package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/internal/reloader"
	"github.com/tollgate/tollgate/internal/watch"
)

// Default addresses. Both are loopback so that a fresh install exposes
// nothing; set --grpc-addr to a routable address when Envoy runs elsewhere.
const (
	defaultGRPCAddr  = "127.0.0.1:18000"
	defaultAdminAddr = "127.0.0.1:18001"
)

type serveConfig struct {
	policyDir string
	grpcAddr  string
	adminAddr string
	logFormat string
	logLevel  slog.Level
	poll      time.Duration
	// only lists the components to run; see components.go.
	only []string
	rl   rateLimitFlags
	// accessLogAddr is where Envoy reaches the access-log service (default:
	// grpcAddr); accessLogOutput is where that service writes ("-": stdout).
	accessLogAddr, accessLogOutput string
	// authzAddr is where Envoy reaches the ext_authz service; default
	// grpcAddr, since one server carries xDS and ext_authz.
	authzAddr string
	// keyUsageFlush is how often API keys' last-used times are written.
	keyUsageFlush time.Duration
}

func parseServe(args []string, stderr io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.policyDir, "policy", "", "policy directory (required)")
	fs.StringVar(&c.grpcAddr, "grpc-addr", defaultGRPCAddr, "address of the gRPC server Envoy connects to (xDS, and ext_authz, rate limiting and access logs unless their --*-address says otherwise)")
	fs.StringVar(&c.adminAddr, "admin-addr", defaultAdminAddr, "address of the admin HTTP server (/metrics, /healthz, /readyz, /debug/...)")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.DurationVar(&c.poll, "poll", 30*time.Second, "also re-read the policy directory this often, in case file events are lost")
	c.rl.register(fs)
	fs.StringVar(&c.accessLogAddr, "access-log-addr", "", "address Envoy streams access logs to, for policies with access_log: { grpc: true } (default: --grpc-addr)")
	fs.StringVar(&c.accessLogOutput, "access-log-output", "-", "where the gRPC access-log service writes JSON lines: a file, or - for standard output")
	fs.StringVar(&c.authzAddr, "authz-address", "", "host:port where Envoy reaches Tollgate's ext_authz service (default: --grpc-addr)")
	fs.DurationVar(&c.keyUsageFlush, "key-usage-flush", time.Minute, "how often API keys' last-used times are written beside the keys file")
	only := fs.String("only", "", "run only these components, comma-separated: "+strings.Join(componentNames, ", ")+" (default: all)")
	err := fs.Parse(args)
	if err != nil {
		return nil, err
	}
	if c.policyDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return nil, errors.New("--policy DIR is required")
	}
	if c.authzAddr == "" {
		c.authzAddr = c.grpcAddr
	}
	if c.only, err = parseOnly(*only); err != nil {
		return nil, err
	}
	if err := c.rl.check(); err != nil {
		return nil, err
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return nil, fmt.Errorf("--log-format must be json or text, got %q", c.logFormat)
	}
	return c, nil
}

func newLogger(c *serveConfig, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	if c.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func serve(args []string, stderr io.Writer) int {
	c, err := parseServe(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "tollgate serve:", err)
		}
		return 2
	}
	log := newLogger(c, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServe(ctx, c, log); err != nil {
		log.Error("tollgate stopped", "error", err)
		return 1
	}
	return 0
}

// runServe wires the control plane: policy reloads feed the xDS server,
// which Envoy reaches over gRPC; the admin server exposes metrics and state.
func runServe(ctx context.Context, c *serveConfig, log *slog.Logger) error {
	// Cancelled on every way out, so that components finish their work
	// (flushing API key usage, say) before runServe returns.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	comps, err := buildComponents(ctx, c, log, reg)
	if err != nil {
		return err
	}
	var stages []reloader.Stage
	for _, comp := range comps {
		stages = append(stages, comp.stage)
	}
	rl := reloader.New(c.policyDir, log, reg, stages...)

	grpcLis, err := net.Listen("tcp", c.grpcAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	adminLis, err := net.Listen("tcp", c.adminAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	grpcServer := newGRPCServer()
	adm := admin.New(reg, ready(rl), log)
	adm.HandleJSON("/debug/config", func() any { return debugConfig(rl) })
	for _, comp := range comps {
		comp.register(grpcServer, adm)
	}

	// A first load that fails is logged and leaves the process running
	// but not ready: fixing the files brings it up without a restart.
	trim := newMemoryTrim()
	defer trim.stop()
	reload := func() {
		before := rl.Current()
		_ = rl.Reload() // the reloader logs and counts its errors
		if rl.Current() != before {
			trim.generationApplied()
		}
	}
	reload()

	errc := make(chan error, 3)
	go func() { errc <- grpcServer.Serve(grpcLis) }()
	go func() { errc <- adm.Serve(ctx, adminLis) }()
	go func() {
		errc <- watch.Dirs(ctx, c.policyDir, tlsDirs(rl), 200*time.Millisecond, c.poll, log, reload)
	}()
	log.Info("tollgate serving", "grpc", grpcLis.Addr().String(), "admin", adminLis.Addr().String(), "policy", c.policyDir)

	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	cancel()
	stopGRPC(grpcServer, 5*time.Second)
	for _, comp := range comps {
		if comp.stop != nil {
			comp.stop()
		}
	}
	return err
}

func newGRPCServer() *grpc.Server {
	return grpc.NewServer(
		// Envoy keeps ADS streams open for the life of the process and
		// sends keepalives; allow them rather than closing the stream.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxConcurrentStreams(100_000),
	)
}

// stopGRPC drains in-flight calls, but ADS streams never end on their own,
// so after the grace period it closes them; Envoy reconnects to the next
// Tollgate and keeps serving its last configuration meanwhile.
func stopGRPC(s *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.Stop()
	}
}

func ready(rl *reloader.Reloader) func() error {
	return func() error {
		if rl.Current() == nil {
			if e := rl.LastError(); e != "" {
				return fmt.Errorf("no valid policy loaded yet: %s", e)
			}
			return errors.New("no policy loaded yet")
		}
		return nil
	}
}

// tlsDirs lists the directories of the serving policy's certificate files,
// so that replacing a certificate reloads like editing the policy.
func tlsDirs(rl *reloader.Reloader) func() []string {
	return func() []string {
		if g := rl.Current(); g != nil {
			return g.Policy.TLSDirs()
		}
		return nil
	}
}
