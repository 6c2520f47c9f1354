package main

import (
	"context"
	"errors"
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

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/internal/reloader"
	"github.com/tollgate/tollgate/internal/watch"
)

// Default addresses. Both are loopback so that a fresh install exposes
// nothing; set --grpc-addr to a routable address when Envoy runs elsewhere.
const (
	defaultGRPCAddr  = envoy.DefaultXDSAddress // where Envoy's bootstrap looks
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
	// connAge makes Envoys reconnect now and then; see connectionAge.
	connAge connectionAge
	// keyUsageFlush is how often API keys' last-used times are written.
	keyUsageFlush time.Duration
	// stateDir keeps the last good generation across restarts; "" keeps
	// none. See stateDirFlag.
	stateDir string
	// grpcTLS secures the gRPC server; see tlsflags.go.
	grpcTLS grpcTLSFlags
	// adminTLS serves the admin port over HTTPS; see tlsflags.go.
	adminTLS adminTLSFlags
	// adminPprof serves Go's profiles on the admin port.
	adminPprof bool
	// limiting is the rate-limit service the components share, once one
	// has asked for it; see limitingFor.
	limiting *limiting
}

const serveUsage = `Usage: tollgate serve --policy DIR [flags]

Serves xDS to Envoy from a policy directory, with the authorization,
rate-limit and access-log services Envoy calls. The directory must exist;
its files are reloaded on every change.
`

// parseServe reads serve's flags; it prints nothing (errors are returned).
func parseServe(args []string, _ io.Writer) (*serveConfig, error) {
	c := &serveConfig{}
	fs := newFlagSet("serve", serveUsage)
	fs.StringVar(&c.policyDir, "policy", "", "policy directory (required)")
	fs.StringVar(&c.grpcAddr, "grpc-addr", defaultGRPCAddr, "address of the gRPC server Envoy connects to (xDS, and ext_authz, rate limiting and access logs unless their --*-address says otherwise)")
	fs.StringVar(&c.adminAddr, "admin-addr", defaultAdminAddr, "address of the admin HTTP server (/metrics, /healthz, /readyz, /debug/...)")
	fs.BoolVar(&c.adminPprof, "admin-pprof", false, "serve Go's runtime profiles on the admin port under /debug/pprof/")
	c.connAge.register(fs)
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or text")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	durationVar(fs, &c.poll, "poll", 30*time.Second, "also re-read the policy directory this often, in case file events are lost")
	c.rl.register(fs)
	c.grpcTLS.register(fs)
	c.adminTLS.register(fs)
	fs.StringVar(&c.accessLogAddr, "access-log-addr", "", "address Envoy streams access logs to, for policies with access_log: { grpc: true } (default: --grpc-addr)")
	fs.StringVar(&c.accessLogOutput, "access-log-output", "-", "where the gRPC access-log service writes JSON lines: a file, or - for standard output")
	fs.StringVar(&c.authzAddr, "authz-address", "", "host:port where Envoy reaches Tollgate's ext_authz service (default: --grpc-addr)")
	durationVar(fs, &c.keyUsageFlush, "key-usage-flush", time.Minute, "how often API keys' last-used times are written: to the rate-limit store's Redis when there is one, else beside the keys file")
	fs.StringVar(&c.stateDir, "state-dir", "", "directory where the last good policy generation is kept, so that a restart with an invalid policy serves it; never inside --policy; an explicit empty value keeps none (default: "+stateDirDefaultHelp+")")
	only := fs.String("only", "", "run only these components, comma-separated: "+strings.Join(componentNames, ", ")+" (default: all)")
	err := noArgs(parseArgs(fs, args))
	if err != nil {
		return nil, err
	}
	if c.policyDir == "" {
		return nil, usagef("--policy DIR is required")
	}
	if c.authzAddr == "" {
		c.authzAddr = c.grpcAddr
	}
	if !flagSet(fs, "state-dir") {
		c.stateDir = defaultStateDir()
	}
	if c.only, err = parseOnly(*only); err != nil {
		return nil, usageError{err}
	}
	if err := c.grpcTLS.check(c.grpcAddr); err != nil {
		return nil, usageError{err}
	}
	if err := c.adminTLS.check(); err != nil {
		return nil, usageError{err}
	}
	if err := c.rl.check(); err != nil {
		return nil, usageError{err}
	}
	if c.logFormat != "json" && c.logFormat != "text" {
		return nil, usagef("--log-format must be json or text, got %q", c.logFormat)
	}
	if c.poll <= 0 || c.keyUsageFlush <= 0 {
		return nil, usagef("--poll and --key-usage-flush must be positive, got %s and %s", c.poll, c.keyUsageFlush)
	}
	if err := c.connAge.check(); err != nil {
		return nil, usageError{err}
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

func serve(args []string, stderr io.Writer) error {
	c, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	if err := checkPolicyDir(c.policyDir); err != nil {
		return err
	}
	log := newLogger(c, stderr)
	routeLibraryLogs(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServe(ctx, c, log); err != nil {
		log.Error("tollgate stopped", "error", err)
		return exitStatus(1)
	}
	return nil
}

// checkPolicyDir fails fast on a policy directory that is not there: it is
// a wrong --policy far more often than a directory still to come, and
// serve does not wait for one. (A directory whose files are invalid is
// different: serve runs, not ready, until they are fixed.)
func checkPolicyDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("policy directory %s does not exist; serve does not wait for it", dir)
	case err != nil:
		return fmt.Errorf("policy directory: %w", err)
	case !info.IsDir():
		return fmt.Errorf("policy directory %s is not a directory", dir)
	}
	return nil
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
	newBuildInfo(reg)

	comps, err := buildComponents(ctx, c, log, reg)
	if err != nil {
		return err
	}
	var stages []reloader.Stage
	for _, comp := range comps {
		stages = append(stages, comp.stage)
	}
	rl := reloader.New(c.policyDir, log, reg, stages...)
	for _, comp := range comps {
		if comp.rolledOut != nil {
			rl.SaveWhen(comp.rolledOut)
		}
	}
	if err := useState(rl, c, log); err != nil {
		return err
	}

	grpcOpts, err := c.grpcTLS.serverOptions(log, newHandshakeFailures(reg))
	if err != nil {
		return err
	}
	adminTLS, err := c.adminTLS.wrapper(log)
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", c.grpcAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	adminLis, err := net.Listen("tcp", c.adminAddr)
	if err != nil {
		grpcLis.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	grpcServer := newGRPCServer(append(grpcOpts, c.connAge.serverOption())...)
	adm := admin.New(reg, ready(rl), log)
	if c.adminPprof {
		adm.HandleProfiles()
	}
	adm.ReadyDetail(rl.Status)
	adm.HandleJSON("/debug/config", func() any { return debugConfig(rl) })
	status := &statusSources{reloader: rl, gatherer: reg, components: c.only}
	for _, comp := range comps {
		comp.register(grpcServer, adm)
		if comp.status != nil {
			comp.status(status)
		}
	}
	if c.limiting != nil {
		// The rate-limit service belongs to whichever of ratelimit and
		// authz runs here (limitingFor).
		status.events = c.limiting.events.Recent
	}
	serveStatus(adm, status)

	// A first load that fails is logged and leaves the process running
	// but not ready: fixing the files brings it up without a restart.
	// Every reload runs under ctx, so that a signal ends one waiting on
	// the network (a JWKS fetch) at once, committing nothing.
	trim := newMemoryTrim()
	defer trim.stop()
	reload := func() {
		before := rl.Current()
		_ = rl.Reload(ctx) // the reloader logs and counts its errors
		if rl.Current() != before {
			trim.generationApplied()
		}
	}
	reload()

	errc := make(chan error, 3)
	go func() { errc <- grpcServer.Serve(grpcLis) }()
	go func() { errc <- adm.Serve(ctx, adminTLS(adminLis)) }()
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
	if c.limiting != nil {
		// The event log's own goroutine flushes when ctx ends, but
		// nothing waits for it, and calls the gRPC server drained after
		// that may have refused more: write what is pending before the
		// process exits.
		c.limiting.events.Flush()
	}
	return err
}

func newGRPCServer(extra ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{
		// Envoy keeps ADS streams open for the life of the process and
		// sends keepalives; allow them rather than closing the stream.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxConcurrentStreams(100_000),
	}, extra...)...)
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

// ready is /readyz's answer: ready (200) exactly when a generation is being
// served — one that loaded, passed the reload guard (so it has a listener
// unless the policy allows none) and compiled in every component.
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
