// Command devstack runs the whole gateway on one machine; it is what
// `make run` runs. It starts the demo services in-process, `tollgate serve`
// as a child process and a real Envoy fed by it over ADS, waits until the
// gateway answers, says where to send requests, and on Ctrl-C stops
// everything in order: Envoy first (no new traffic), then Tollgate, then
// the services.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/demoservice"
)

// options are devstack's flags.
type options struct {
	policy, tollgate     string
	grpcAddr, adminAddr  string
	gatewayAddr          string
	envoyAdminPort       int
	envoyLogLevel        string
	services             []service
	delta, quiet         bool
	gatewayWait, stopMax time.Duration
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		stop()
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.policy, "policy", "examples/gateway", "policy `dir` for tollgate serve")
	fs.StringVar(&o.tollgate, "tollgate", "./bin/tollgate", "tollgate `binary`")
	fs.StringVar(&o.grpcAddr, "grpc-addr", envoy.DefaultXDSAddress, "tollgate xDS/gRPC `address`")
	fs.StringVar(&o.adminAddr, "admin-addr", "127.0.0.1:18001", "tollgate admin HTTP `address`")
	fs.StringVar(&o.gatewayAddr, "gateway", "127.0.0.1:8080", "`address` of the gateway listener the policy defines")
	fs.IntVar(&o.envoyAdminPort, "envoy-admin-port", 9901, "Envoy admin `port` on 127.0.0.1")
	fs.StringVar(&o.envoyLogLevel, "envoy-log-level", "warn", "Envoy log `level`")
	fs.BoolVar(&o.delta, "delta", false, "use incremental (delta) xDS")
	fs.BoolVar(&o.quiet, "quiet", false, "do not log each request to the demo services")
	fs.DurationVar(&o.gatewayWait, "wait", 30*time.Second, "how long to wait for the gateway to answer")
	fs.DurationVar(&o.stopMax, "stop-timeout", 10*time.Second, "how long each component may take to stop")
	services := fs.String("services", "orders=127.0.0.1:9001,orders-v2=127.0.0.1:9002,users=127.0.0.1:9003,users=127.0.0.1:9004",
		"demo services to run, as comma-separated `name=host:port`; a name given twice gets two instances")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	o.services, err = parseServices(*services)
	return o, err
}

// run starts the stack, waits for ctx or for a component to fail, and stops
// the stack.
func run(ctx context.Context, o options) error {
	envoyBin, err := envoy.FindBinary()
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.tollgate); err != nil {
		return fmt.Errorf("tollgate binary: %w (run `make build`)", err)
	}
	key, err := ensureDemoKey(o.policy, time.Now())
	if err != nil {
		return err
	}
	served, cleanup, err := servedPolicy(ctx, o)
	if err != nil {
		return err
	}
	defer cleanup()
	s := &stack{o: o, policyDir: served}
	defer s.stop()
	if err := s.start(ctx, envoyBin); err != nil {
		return err
	}
	s.waitGateway(ctx)
	printBanner(os.Stdout, o, served, s.envoy.AdminURL(), key)
	return s.wait(ctx)
}

// stack is what run started, in start order; stop undoes it in reverse.
type stack struct {
	o options
	// policyDir is what tollgate serves: o.policy, or a copy of it with
	// its ports moved (ports.go).
	policyDir string
	services  []*demoservice.Server
	tollgate  *child
	envoy     *envoy.Process
	// tmpDir holds Envoy's bootstrap.
	tmpDir string
}

func (s *stack) start(ctx context.Context, envoyBin string) error {
	if err := s.startServices(); err != nil {
		return err
	}
	tg, err := startChild(s.o.tollgate, []string{"serve", "--policy", s.policyDir,
		"--grpc-addr", s.o.grpcAddr, "--admin-addr", s.o.adminAddr}, prefixed("tollgate"))
	if err != nil {
		return err
	}
	s.tollgate = tg
	if err := waitTCP(ctx, dialable(s.o.grpcAddr), 15*time.Second, tg.done); err != nil {
		return fmt.Errorf("tollgate xDS on %s: %w", s.o.grpcAddr, err)
	}
	bootstrap, err := s.writeBootstrap(ctx)
	if err != nil {
		return err
	}
	s.envoy, err = envoy.Start(ctx, envoy.Config{
		Binary:        envoyBin,
		BootstrapFile: bootstrap,
		NodeID:        devstackNodeID,
		LogLevel:      s.o.envoyLogLevel,
		// The example policy's access log goes to Envoy's stdout; flush
		// it every half second (Envoy's default is 10s) so each request
		// shows in the terminal as it happens.
		Stdout:    prefixed("access"),
		Stderr:    prefixed("envoy"),
		ExtraArgs: []string{"--file-flush-interval-msec", "500"},
	})
	return err
}

// devstackNodeID is the node id of make run's Envoy.
const devstackNodeID = "envoy-devstack"

// writeBootstrap has `tollgate bootstrap` write Envoy's bootstrap, as a
// deployment would, into a directory stop removes.
func (s *stack) writeBootstrap(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "tollgate-devstack-")
	if err != nil {
		return "", err
	}
	s.tmpDir = dir
	file := filepath.Join(dir, "envoy-bootstrap.yaml")
	args := []string{"bootstrap", "--node-id", devstackNodeID, "--node-group", envoy.DefaultNodeGroup,
		"--xds-addr", dialable(s.o.grpcAddr), "--admin-addr", fmt.Sprintf("127.0.0.1:%d", s.o.envoyAdminPort), "--output", file}
	if s.o.delta {
		args = append(args, "--delta")
	}
	if out, err := exec.CommandContext(ctx, s.o.tollgate, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("tollgate bootstrap: %w: %s", err, out)
	}
	return file, nil
}

func (s *stack) startServices() error {
	var opts []demoservice.Option
	if !s.o.quiet {
		opts = append(opts, demoservice.WithLogger(slog.New(slog.NewTextHandler(prefixed("services"), nil))))
	}
	for _, g := range groupServices(s.o.services) {
		srv, err := demoservice.Start(g.name, g.addrs, opts...)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		s.services = append(s.services, srv)
	}
	return nil
}

// waitGateway waits for any HTTP answer on the gateway listener. Not getting
// one is not fatal: the policy may be wrong, and fixing it is live.
func (s *stack) waitGateway(ctx context.Context) {
	fmt.Printf("waiting up to %v for the gateway on %s ...\n", s.o.gatewayWait, s.o.gatewayAddr)
	ctx, cancel := context.WithTimeout(ctx, s.o.gatewayWait)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for ctx.Err() == nil {
		if resp, err := client.Get("http://" + s.o.gatewayAddr + "/"); err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Printf("\nWARNING: nothing answers on %s yet. Check the tollgate and envoy lines above and the\n"+
		"listener in %s; the stack keeps running and picks up policy changes.\n", s.o.gatewayAddr, s.o.policy)
}

// wait blocks until Ctrl-C or until a component stops on its own.
func (s *stack) wait(ctx context.Context) error {
	serviceErr := make(chan error, 1)
	for _, srv := range s.services {
		go func() {
			if err := <-srv.Err(); !errors.Is(err, http.ErrServerClosed) {
				serviceErr <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case <-s.tollgate.done:
		err = fmt.Errorf("tollgate exited: %v", s.tollgate.err)
	case <-s.envoy.Done():
		err = errors.New("envoy exited; see its output above")
	case err = <-serviceErr:
		err = fmt.Errorf("demo service: %w", err)
	}
	if ctx.Err() != nil {
		// Ctrl-C also stops Envoy through its context; that is no failure.
		fmt.Println("\nstopping ...")
		return nil
	}
	return err
}

// stop stops whatever was started, Envoy first so no request reaches a
// component that is going away.
func (s *stack) stop() {
	if s.envoy != nil {
		report("envoy", s.envoy.Stop())
	}
	if s.tollgate != nil {
		report("tollgate", s.tollgate.stop(s.o.stopMax))
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.stopMax)
	defer cancel()
	for _, srv := range s.services {
		report("demo service", srv.Shutdown(ctx))
	}
	if s.tmpDir != "" {
		report("bootstrap directory", os.RemoveAll(s.tmpDir))
	}
}

func report(what string, err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: stopping %s: %v\n", what, err)
	}
}

func printBanner(w io.Writer, o options, served, envoyAdmin string, key demoKey) {
	var services []string
	for _, sv := range o.services {
		services = append(services, sv.name+" "+sv.addr)
	}
	copied := ""
	if served != o.policy {
		copied = fmt.Sprintf("  Policy:          %s with its ports moved to the ones above, served from a copy in %s\n", o.policy, served)
	}
	fmt.Fprintf(w, `
Tollgate dev stack is running.

  Send requests:   curl -s %[1]s/orders                  (anonymous: 20 a minute per IP, then 429)
%[6]s  Tollgate admin:  http://%[2]s/   (metrics: http://%[2]s/metrics)
  Envoy admin:     %[3]s/   (config: %[3]s/config_dump, stats: %[3]s/stats)
  Demo services:   %[4]s
%[7]s
Edit %[5]s/*.yaml and the change is live. Ctrl-C stops everything.

`, localhostURL(o.gatewayAddr), o.adminAddr, envoyAdmin, strings.Join(services, ", "), o.policy, key.bannerLines(localhostURL(o.gatewayAddr)), copied)
}

// localhostURL turns 127.0.0.1:8080 into localhost:8080, which reads better
// in a curl line.
func localhostURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || (host != "127.0.0.1" && host != "") {
		return addr
	}
	return "localhost:" + port
}
