package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/internal/reloader"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/xds"
)

// componentNames are the parts of the control plane `serve` can run; by
// default it runs all of them in one process, and --only splits them so
// that each scales out on its own.
var componentNames = []string{"xds", "authz", "ratelimit", "accesslog"}

// component is one part of the control plane: how it compiles each policy
// generation, and what it serves.
type component struct {
	stage    reloader.Stage
	register func(g *grpc.Server, a *admin.Server)
	// stop, if set, waits for the component's background work to finish
	// once the serve context is done.
	stop func()
}

func parseOnly(s string) ([]string, error) {
	if s == "" {
		return componentNames, nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(componentNames, name) {
			return nil, fmt.Errorf("--only: unknown component %q; expected some of: %s", name, strings.Join(componentNames, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// buildComponents creates the components selected by --only.
func buildComponents(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) ([]component, error) {
	var out []component
	for _, name := range c.only {
		switch name {
		case "xds":
			out = append(out, xdsComponent(ctx, log, reg, xdsOptions(c)))
		case "ratelimit":
			comp, err := rateLimitComponent(ctx, c, log, reg)
			if err != nil {
				return nil, err
			}
			out = append(out, comp)
		case "accesslog":
			comp, err := accessLogComponent(ctx, c, log, reg)
			if err != nil {
				return nil, err
			}
			out = append(out, comp)
		case "authz":
			out = append(out, authzComponent(ctx, c, log, reg))
		}
	}
	return out, nil
}

// xdsComponent serves Envoy its configuration. A generation compiles by
// building its snapshots, and commits by publishing them.
func xdsComponent(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, opts xds.Options) component {
	s := xds.NewServer(ctx, log, reg, opts)
	return component{
		stage: func(p *policy.Policy) (func(), error) {
			if err := s.Check(p); err != nil {
				return nil, err
			}
			return func() {
				if err := s.Update(p); err != nil {
					// Check built the same snapshots, so this is not expected.
					log.Error("publishing xDS snapshots", "version", p.Version, "error", err)
				}
			}, nil
		},
		register: func(g *grpc.Server, a *admin.Server) {
			s.Register(g)
			a.HandleJSON("/debug/proxies", func() any { return s.Proxies() })
		},
	}
}

// xdsOptions says where Envoy reaches Tollgate's own gRPC services: the
// serve gRPC address unless a flag points elsewhere.
func xdsOptions(c *serveConfig) xds.Options {
	return xds.Options{
		RateLimitAddress: cmpOr(c.rl.address, c.grpcAddr),
		AccessLogAddress: cmpOr(c.accessLogAddr, c.grpcAddr),
		AuthzAddress:     cmpOr(c.authzAddr, c.grpcAddr),
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
