package main

import (
	"cmp"
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
	// status, if set, adds the component's sources to the status model
	// (status.go).
	status func(s *statusSources)
	// stop, if set, waits for the component's background work to finish
	// once the serve context is done.
	stop func()
	// rolledOut, if set, defers the save of the last good generation
	// until the component has rolled it out (reloader.SaveWhen).
	rolledOut func(version string, save func())
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

// builder creates one component.
type builder func(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (component, error)

// builders creates each component by its name in componentNames.
var builders = map[string]builder{
	"xds": func(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (component, error) {
		return xdsComponent(ctx, log, reg, xdsOptions(c)), nil
	},
	"authz":     authzComponent,
	"ratelimit": rateLimitComponent,
	"accesslog": accessLogComponent,
}

// buildComponents creates the components selected by --only, in the
// order of componentNames.
func buildComponents(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) ([]component, error) {
	var out []component
	for _, name := range componentNames {
		if !slices.Contains(c.only, name) {
			continue
		}
		comp, err := builders[name](ctx, c, log, reg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, comp)
	}
	return out, nil
}

// xdsComponent serves Envoy its configuration. A generation compiles by
// building its snapshots, and commits by publishing them.
func xdsComponent(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, opts xds.Options) component {
	s := xds.NewServer(ctx, log, reg, opts)
	return component{
		// Translation is CPU work, waiting on nothing: it does not look
		// at the reload's context, which the reloader checks before
		// committing.
		stage: func(_ context.Context, p *policy.Policy) (func(), error) {
			commit, err := s.Prepare(p)
			if err != nil {
				return nil, err
			}
			return func() {
				if err := commit(); err != nil {
					// Only a node group first seen since Prepare is
					// translated here, and fails alone.
					log.Error("publishing xDS snapshots", "version", p.Version, "error", err)
				}
			}, nil
		},
		register: func(g *grpc.Server, a *admin.Server) {
			s.Register(g)
			a.HandleJSON("/debug/proxies", func() any { return s.Proxies() })
			a.HandleJSON("/debug/rollout", func() any { return s.Rollout() })
		},
		status: func(st *statusSources) {
			st.proxies, st.applied = s.Proxies, s.Applied
			st.rollout = func() any {
				if g := st.reloader.Current(); g == nil || g.Policy.Rollout == nil {
					return nil // no rollout section: "no staged rollout configured"
				}
				return s.Rollout()
			}
		},
		rolledOut: s.WhenRolledOut,
	}
}

// xdsOptions says where Envoy reaches Tollgate's own gRPC services: the
// serve gRPC address unless a flag points elsewhere. The addresses go as
// written; xds turns a wildcard host into loopback (xds.Options).
func xdsOptions(c *serveConfig) xds.Options {
	return xds.Options{
		RateLimitAddress: cmp.Or(c.rl.address, c.grpcAddr),
		AccessLogAddress: cmp.Or(c.accessLogAddr, c.grpcAddr),
		AuthzAddress:     cmp.Or(c.authzAddr, c.grpcAddr),
		TLS:              c.grpcTLS.enabled(),
	}
}
