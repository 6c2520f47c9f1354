// Command demo-service is the HTTP upstream for demos, tests and benchmarks:
// it answers every request with a JSON description of what it received and
// fails or slows down on request. See package internal/demoservice.
//
//	demo-service --name orders --listen 127.0.0.1:9001
//	demo-service --name users --listen 127.0.0.1:9003,127.0.0.1:9004
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate/tollgate/internal/demoservice"
)

const defaultListen = "127.0.0.1:9001"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "demo-service:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done. ready, when not nil, receives the bound
// addresses once every instance listens.
func run(ctx context.Context, args []string, logw io.Writer, ready func(addrs []string)) error {
	fs := flag.NewFlagSet("demo-service", flag.ContinueOnError)
	fs.SetOutput(logw)
	name := fs.String("name", "demo", "service `name` reported in every answer")
	quiet := fs.Bool("quiet", false, "do not log each request")
	var listen []string
	fs.Func("listen", "`host:port` to serve on; repeat or separate with commas for several instances (default "+defaultListen+")",
		func(v string) error {
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					listen = append(listen, a)
				}
			}
			return nil
		})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(listen) == 0 {
		listen = []string{defaultListen}
	}
	logger := slog.New(slog.NewTextHandler(logw, nil))
	var opts []demoservice.Option
	if !*quiet {
		opts = append(opts, demoservice.WithLogger(logger))
	}
	srv, err := demoservice.Start(*name, listen, opts...)
	if err != nil {
		return err
	}
	logger.Info("demo service listening", "name", *name, "addrs", srv.Addrs())
	if ready != nil {
		ready(srv.Addrs())
	}
	return wait(ctx, srv)
}

// wait serves until ctx is done or an instance fails, then shuts down,
// letting requests in flight finish for a few seconds.
func wait(ctx context.Context, srv *demoservice.Server) error {
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-srv.Err():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return failed
	}
	return err
}
