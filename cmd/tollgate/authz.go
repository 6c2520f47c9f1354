package main

import (
	"context"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/admission"
	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/policy"
)

// authzComponent answers Envoy's ext_authz Check calls. A generation
// compiles into route rules, keys and JWT providers, and the plans of the
// routes whose limits the Check decides too, and commits by atomic swaps;
// API keys' last-used times are flushed in the background. Those limits
// are decided by the process's rate-limit service, which this component
// stages itself when the rate-limit component does not run here.
func authzComponent(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (component, error) {
	limits, err := limitingFor(ctx, c, log, reg)
	if err != nil {
		return component{}, err
	}
	ownLimits := !slices.Contains(c.only, "ratelimit")
	e := authz.New(authz.Options{Log: log, Registry: reg})
	srv := admission.NewServer(authz.NewServer(e), limits.svc)
	// The flusher writes last-used times once more when ctx ends; stop
	// waits for that write so a shutdown loses no usage.
	flushed := make(chan struct{})
	shared := &sharedUsage{log: log}
	go func() { e.RunUsageFlusher(ctx, c.keyUsageFlush, shared.store); close(flushed) }()
	go func() { <-ctx.Done(); e.Close() }()
	return component{
		stop: func() { <-flushed; shared.close() },
		// Last-used times follow the generation's rate-limit store (see
		// keyusage.go).
		stage: func(ctx context.Context, p *policy.Policy) (func(), error) {
			commit, err := e.Compile(ctx, p)
			if err != nil {
				return nil, err
			}
			commitLimits := func() {}
			if ownLimits {
				if commitLimits, err = limits.stage(ctx, p); err != nil {
					return nil, err
				}
			}
			cfg := c.rl.storeConfig(p.RateLimitStore)
			plans := admission.Compile(p)
			return func() { commit(); commitLimits(); srv.Swap(plans); shared.use(cfg) }, nil
		},
		register: func(g *grpc.Server, a *admin.Server) {
			srv.Register(g)
			a.HandleJSON("/debug/keys", func() any { return e.Keys() })
		},
		status: func(st *statusSources) { st.denials, st.jwks = e.RecentDenials, e.JWKS },
	}, nil
}
