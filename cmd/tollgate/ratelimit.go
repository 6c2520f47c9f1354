package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/ratelimiter"
)

// rateLimitFlags are the serve flags of the rate-limit component. A store
// flag, when given, overrides the policy's rate_limit_store (deployment
// beats policy), so `serve --only ratelimit --redis ADDR` works with any
// policy.
type rateLimitFlags struct {
	address        string // where Envoy reaches the RLS; default --grpc-addr
	store          string // "", memory or redis
	redis          string
	redisAddrs     string
	redisMaster    string
	redisTimeout   time.Duration
	redisAuth      redisAuthFlags
	onFailure      string
	gracePeriod    time.Duration
	graceThen      string
	events         string
	eventsInterval time.Duration
}

func (f *rateLimitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.address, "ratelimit-address", "", "host:port where Envoy reaches the rate-limit service (default: --grpc-addr)")
	fs.StringVar(&f.store, "ratelimit-store", "", "rate-limit store: memory or redis (default: the policy's rate_limit_store, else memory; a --redis flag implies redis)")
	fs.StringVar(&f.redis, "redis", "", "Redis address host:port (single node); overrides the policy")
	fs.StringVar(&f.redisAddrs, "redis-addrs", "", "comma-separated Redis addresses: a Cluster, or Sentinels with --redis-master")
	fs.StringVar(&f.redisMaster, "redis-master", "", "Sentinel master name")
	f.redisAuth.register(fs)
	durationVar(fs, &f.redisTimeout, "redis-timeout", 0, "deadline of one decision's Redis round trip (default: the policy's, else 50ms)")
	fs.StringVar(&f.onFailure, "ratelimit-on-failure", "", "when Redis is unreachable: fail_open, fail_closed or grace (default: the policy's, else fail_open)")
	durationVar(fs, &f.gracePeriod, "ratelimit-grace-period", 0, "how long grace mode lasts (default: the policy's, else 30s)")
	fs.StringVar(&f.graceThen, "ratelimit-grace-then", "", "mode after the grace period: fail_open or fail_closed")
	fs.StringVar(&f.events, "ratelimit-events", "-", "file the over-limit event log is appended to (JSON lines); - for stderr")
	durationVar(fs, &f.eventsInterval, "ratelimit-events-interval", 10*time.Second, "over-limit events are aggregated per limit and key over this interval")
}

// check validates the flags once parsed.
func (f *rateLimitFlags) check() error {
	switch f.store {
	case "", "memory", "redis":
	default:
		return fmt.Errorf("--ratelimit-store must be memory or redis, got %q", f.store)
	}
	if f.redis != "" && f.redisAddrs != "" {
		return fmt.Errorf("set --redis or --redis-addrs, not both")
	}
	if f.store == "redis" && f.redis == "" && f.redisAddrs == "" {
		return fmt.Errorf("--ratelimit-store redis needs --redis or --redis-addrs")
	}
	if err := f.redisAuth.check(); err != nil {
		return err
	}
	for _, m := range []string{f.onFailure, f.graceThen} {
		switch ratelimiter.Mode(m) {
		case "", ratelimiter.FailOpen, ratelimiter.FailClosed, ratelimiter.Grace:
		default:
			return fmt.Errorf("unknown failure mode %q; expected fail_open, fail_closed or grace", m)
		}
	}
	if f.eventsInterval <= 0 {
		return fmt.Errorf("--ratelimit-events-interval must be positive")
	}
	return nil
}

// storeConfig applies the flags over the policy's store configuration.
func (f *rateLimitFlags) storeConfig(s *policy.RateLimitStore) ratelimiter.StoreConfig {
	c := ratelimiter.FromPolicy(s)
	switch {
	case f.redis != "":
		c.Addrs, c.Cluster, c.SentinelMaster = f.redis, false, ""
	case f.redisAddrs != "":
		c.Addrs, c.SentinelMaster = f.redisAddrs, f.redisMaster
		c.Cluster = f.redisMaster == ""
	}
	f.redisAuth.apply(&c)
	if f.store == "memory" {
		c.Addrs = ""
	}
	if f.redisTimeout > 0 {
		c.Timeout = f.redisTimeout
	}
	if f.onFailure != "" {
		c.OnFailure = ratelimiter.Mode(f.onFailure)
	}
	if f.gracePeriod > 0 {
		c.GracePeriod = f.gracePeriod
	}
	if f.graceThen != "" {
		c.GraceThen = ratelimiter.Mode(f.graceThen)
	}
	return c
}

func (f *rateLimitFlags) eventWriter() (io.Writer, error) {
	if f.events == "-" || f.events == "" {
		return os.Stderr, nil
	}
	return os.OpenFile(f.events, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
}

// rateLimitComponent answers Envoy's rate-limit calls with the process's
// rate-limit service (limitingFor), whose generations it stages.
func rateLimitComponent(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (component, error) {
	l, err := limitingFor(ctx, c, log, reg)
	if err != nil {
		return component{}, err
	}
	return component{
		stage: l.stage,
		register: func(g *grpc.Server, _ *admin.Server) {
			ratelimiter.NewServer(l.svc).Register(g)
		},
	}, nil
}

// limiting is the process's one rate-limit service: the rate-limit
// component answers Envoy's rate-limit calls with it, and the authz
// component decides the limits of one-call routes with it
// (admission.Server), so both count in the same counters.
type limiting struct {
	svc *ratelimiter.Service
	// events is the over-limit event log, whose recent events the status
	// model shows.
	events *ratelimiter.EventLog
	// stage compiles a generation into a Limiter over the store its
	// configuration asks for (reused when unchanged) and commits by
	// swapping the Limiter in.
	stage func(context.Context, *policy.Policy) (func(), error)
}

// limitingFor returns the process's rate-limit service, creating it on
// first use; components are built one at a time, so no lock is needed.
func limitingFor(ctx context.Context, c *serveConfig, log *slog.Logger, reg prometheus.Registerer) (*limiting, error) {
	if c.limiting != nil {
		return c.limiting, nil
	}
	w, err := c.rl.eventWriter()
	if err != nil {
		return nil, fmt.Errorf("--ratelimit-events: %w", err)
	}
	events := ratelimiter.NewEventLog(slog.New(slog.NewJSONHandler(w, nil)).With("log", "ratelimit_events"), c.rl.eventsInterval)
	go events.Run(ctx)
	metrics := ratelimiter.NewMetrics(reg)
	svc := ratelimiter.NewService(log, events, metrics, nil)
	go svc.Run(ctx)
	stores := &storeSet{log: log, metrics: metrics, open: map[ratelimiter.StoreConfig]*ratelimiter.Opened{}}
	c.limiting = &limiting{svc: svc, events: events,
		// Opening a store dials nothing (connections are made by the
		// first decisions), so the stage does not look at the reload's
		// context.
		stage: func(_ context.Context, p *policy.Policy) (func(), error) {
			cfg := c.rl.storeConfig(p.RateLimitStore)
			opened, err := stores.get(cfg)
			if err != nil {
				return nil, err
			}
			l, err := ratelimiter.Compile(p, opened.Store, opened.Remote)
			if err != nil {
				return nil, err
			}
			return func() { svc.Swap(l); stores.keepOnly(cfg) }, nil
		},
	}
	return c.limiting, nil
}

// storeSet keeps the opened stores by configuration, so a reload with the
// same store keeps its counters and connections. Guarded by mu: stages and
// commits run on the reloader's goroutine, but nothing promises that.
type storeSet struct {
	log     *slog.Logger
	metrics *ratelimiter.Metrics

	mu   sync.Mutex
	open map[ratelimiter.StoreConfig]*ratelimiter.Opened
}

func (s *storeSet) get(cfg ratelimiter.StoreConfig) (*ratelimiter.Opened, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.open[cfg]; ok {
		return o, nil
	}
	o, err := ratelimiter.Open(cfg, s.log, s.metrics)
	if err != nil {
		return nil, err
	}
	s.open[cfg] = o
	return o, nil
}

// keepOnly closes every store but the committed one, after a delay that
// lets decisions in flight on an old limiter finish.
func (s *storeSet) keepOnly(cfg ratelimiter.StoreConfig) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, o := range s.open {
		if c != cfg {
			delete(s.open, c)
			time.AfterFunc(5*time.Second, o.Close)
		}
	}
}
