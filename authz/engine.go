// Package authz is Tollgate's authorization service: it answers Envoy's
// ext_authz Check calls. The Engine decides over a plain Request (no
// protos) with rules compiled from each policy generation and swapped
// atomically: route rules, the API key store (hashes only) and the JWT
// providers, whose JWKS are fetched in the background. server.go is the
// thin gRPC adapter between Envoy's protos and the engine.
package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/recent"
	"github.com/tollgate/tollgate/policy"
)

// Engine decides authorization requests. The serving rules are behind an
// atomic pointer: Check never blocks on a reload. JWKS sources live across
// generations in sources, guarded by mu.
type Engine struct {
	log     *slog.Logger
	metrics *metrics
	usage   *Usage
	now     func() time.Time
	// denials are the last refusals, for the status page (status.go).
	denials *recent.Ring[Denial]

	rules atomic.Pointer[ruleset]

	// mu guards sources; commits and Close run under it, and Compile
	// only while it looks sources up: never across a JWKS fetch.
	mu      sync.Mutex
	sources map[string]*jwksSource
}

// Options configure an Engine.
type Options struct {
	Log      *slog.Logger
	Registry prometheus.Registerer // nil: metrics are not registered
	// Now is the clock; nil means time.Now. Tests move it.
	Now func() time.Time
}

// New returns an engine with no rules: it refuses every request with 503
// until the first generation is committed.
func New(o Options) *Engine {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Engine{log: o.Log, metrics: newMetrics(o.Registry), usage: NewUsage(), now: o.Now, denials: recent.New[Denial](recentDenials), sources: map[string]*jwksSource{}}
}

// ruleset is one compiled policy generation. Immutable once published.
type ruleset struct {
	version   string
	routes    map[string]*routeRule
	keys      *keyStore // nil without auth.api_keys
	keysPath  string
	keyHeader string // lower-case
	// keyHeaderName is the key header as the policy writes it, for
	// messages to clients.
	keyHeaderName string
	providers     map[string]*provider
	// providerList is providers in policy order, for cache lookups.
	providerList []*provider
	sources      map[string]*jwksSource
	keysLoaded   int
	keysMissing  bool     // an optional keys file is absent
	tierWarnings []string // keys whose tier the policy does not declare
}

// Compile builds the rules of a policy generation without serving them,
// and returns the function that does (a reloader.Stage). A bad keys file
// or JWKS file fails the generation; the previous one keeps serving. The
// JWKS of a new URL provider is fetched once first (see fetchNew); when
// ctx ends meanwhile Compile returns its error and nothing to commit.
func (e *Engine) Compile(ctx context.Context, p *policy.Policy) (func(), error) {
	rs := &ruleset{version: p.Version, routes: map[string]*routeRule{}, providers: map[string]*provider{}, sources: map[string]*jwksSource{}}
	var fresh []*jwksSource
	if a := p.Auth; a != nil {
		if err := rs.compileKeys(a, p); err != nil {
			return nil, err
		}
		for _, j := range a.JWT {
			src, isNew, err := e.compileProvider(rs, j)
			if err != nil {
				return nil, err
			}
			if isNew {
				fresh = append(fresh, src)
			}
		}
	}
	for _, r := range p.Routes {
		rs.routes[r.Name] = compileRoute(p, r)
	}
	if err := fetchNew(ctx, fresh); err != nil {
		return nil, err
	}
	return func() { e.commit(rs) }, nil
}

func (rs *ruleset) compileKeys(a *policy.Auth, p *policy.Policy) error {
	k := a.APIKeys
	if k == nil {
		return nil
	}
	kf, err := ParseKeysFile(k.Path, k.Data)
	if err != nil {
		return err
	}
	rs.keys, rs.keysPath, rs.keysLoaded = compileKeys(kf), k.Path, len(kf.Keys)
	rs.keysMissing = k.Missing()
	rs.tierWarnings = UndeclaredTiers(p, kf)
	rs.keyHeader, rs.keyHeaderName = strings.ToLower(k.Header), k.Header
	return nil
}

// compileProvider builds a provider, reusing the running JWKS source of an
// unchanged provider so a reload neither refetches nor drops its keys. A
// new URL source is returned with isNew set, for Compile to fetch; it
// starts refreshing on commit.
func (e *Engine) compileProvider(rs *ruleset, j *policy.JWTProvider) (src *jwksSource, isNew bool, err error) {
	if j.JWKSURI == "" {
		src, err = newStaticSource(j.Issuer, j.JWKSData)
		if err != nil {
			return nil, false, fmt.Errorf("%s: auth.jwt jwks_file %s: %w", j.At("jwks_file"), j.JWKSFile, err)
		}
	} else {
		id := fmt.Sprintf("%s\x00%s\x00%d\x00%d", j.Issuer, j.JWKSURI, j.RefreshInterval, j.MaxStale)
		if src = e.runningSource(id); src == nil {
			src, isNew = newURLSource(j.Issuer, j.JWKSURI, j.RefreshInterval.D(), j.MaxStale.D(), e.log, e.metrics), true
		}
		rs.sources[id] = src
	}
	p := newProvider(j, src, e.metrics)
	rs.providers[j.Issuer] = p
	rs.providerList = append(rs.providerList, p)
	return src, isNew, nil
}

// runningSource is the serving generation's JWKS source with id, or nil.
func (e *Engine) runningSource(id string) *jwksSource {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sources[id]
}

// firstFetchTimeout bounds how long a reload waits for new providers'
// JWKS (a variable for tests). Past it the generation commits without
// their keys, which the refresh loops keep fetching.
var firstFetchTimeout = 3 * time.Second

// fetchNew fetches the JWKS of new URL sources once, so that the first
// tokens after a start or a new provider do not meet an empty key set.
// The fetches run together, under one firstFetchTimeout, and outside the
// engine's lock: a slow identity provider delays this reload alone, never
// Close or a commit (and Check never takes the lock). A fetch that fails
// or times out is logged and counted and the generation still commits;
// ctx ending (serve stopping) fails the generation with ctx's error.
func fetchNew(ctx context.Context, fresh []*jwksSource) error {
	if len(fresh) == 0 {
		return nil
	}
	fetchCtx, cancel := context.WithTimeout(ctx, firstFetchTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, src := range fresh {
		wg.Go(func() {
			// fetch leaves an ended context's error uncounted; this
			// timeout is the identity provider's failure, and counts.
			err := src.fetch(fetchCtx)
			if errors.Is(err, context.DeadlineExceeded) && fetchCtx.Err() != nil && ctx.Err() == nil {
				src.failed(err)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetching JWKS: %w", err)
	}
	return nil
}

// CheckFiles parses the files a policy's auth section names (the keys
// file, JWKS files) as Compile would, without fetching anything: for
// `tollgate validate`.
func CheckFiles(p *policy.Policy) error {
	if p.Auth == nil {
		return nil
	}
	var errs []error
	if k := p.Auth.APIKeys; k != nil {
		if _, err := ParseKeysFile(k.Path, k.Data); err != nil {
			errs = append(errs, err)
		}
	}
	for _, j := range p.Auth.JWT {
		if j.JWKSURI == "" {
			if _, err := parseKeySet(j.JWKSData); err != nil {
				errs = append(errs, fmt.Errorf("%s: auth.jwt jwks_file %s: %w", j.At("jwks_file"), j.JWKSFile, err))
			}
		}
	}
	return errors.Join(errs...)
}

// commit serves a compiled generation and starts or stops JWKS sources.
func (e *Engine) commit(rs *ruleset) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules.Store(rs)
	for id, s := range e.sources {
		if rs.sources[id] != s {
			s.stop()
		}
	}
	for _, s := range rs.sources {
		s.start()
	}
	e.sources = rs.sources
	e.metrics.keysLoaded.Set(float64(rs.keysLoaded))
	for _, w := range rs.tierWarnings {
		e.log.Warn("API key tier not declared by the policy", "file", rs.keysPath, "problem", w)
	}
	if rs.keysMissing {
		e.log.Warn("the API keys file does not exist (optional: true): every API key is refused until `tollgate keys new` creates it", "file", rs.keysPath)
	}
}

// Close stops the background JWKS refreshes.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sources {
		s.stop()
	}
	e.sources = map[string]*jwksSource{}
}

// Usage is the engine's record of when each API key was last used.
func (e *Engine) Usage() *Usage { return e.usage }

// KeysPath is the serving keys file, or "" (for the usage flusher).
func (e *Engine) KeysPath() string {
	if rs := e.rules.Load(); rs != nil {
		return rs.keysPath
	}
	return ""
}

// Check decides one request, and counts and logs the decision.
func (e *Engine) Check(req *Request) *Decision {
	start := time.Now()
	d := e.decide(req)
	e.metrics.latency.Observe(time.Since(start).Seconds())
	e.metrics.decision(d)
	if !d.Allowed() {
		// Never the credential itself: the client is a key id or subject.
		e.log.Info("authz denied", "route", req.Route, "status", d.Status, "reason", d.Reason,
			"client", d.Client, "client_ip", req.ClientIP, "request_id", req.RequestID)
		e.denials.Add(Denial{At: start, Route: req.Route, Status: d.Status, Reason: d.Reason, Client: d.Client, ClientIP: req.ClientIP})
	}
	return d
}

func (e *Engine) decide(req *Request) *Decision {
	rs := e.rules.Load()
	if rs == nil {
		return deny(503, "auth_unavailable", "authorization is not ready yet; try again later", "not_ready")
	}
	rule := rs.routes[req.Route]
	switch {
	case rule == nil:
		// Envoy names a route this generation does not know: only
		// possible for a moment during a reload, or if misconfigured.
		return deny(403, "forbidden", "no authorization rule applies to this route", "no_rule")
	case rule.public:
		return allow(anonymous)
	}
	return rs.decide(rule, req, e.now(), e.usage)
}

// RunUsageFlusher writes the API keys' last-used times every interval
// until ctx ends (see Usage): to the store shared returns, when it returns
// one, else beside the serving keys file.
func (e *Engine) RunUsageFlusher(ctx context.Context, interval time.Duration, shared func() UsageStore) {
	e.usage.RunFlusher(ctx, interval, func() UsageStore {
		if s := shared(); s != nil {
			return s
		}
		if p := e.KeysPath(); p != "" {
			return FileUsage(UsagePath(p))
		}
		return nil
	}, e.log, e.metrics.usageErrors.Inc)
}

// KeyView is what the admin page shows of a key: never a hash.
type KeyView struct {
	ID       string    `json:"id"`
	Tier     string    `json:"tier,omitempty"`
	Scopes   []string  `json:"scopes,omitempty"`
	Services []string  `json:"services,omitempty"`
	Status   string    `json:"status"`
	Secrets  int       `json:"secrets"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Keys lists the serving keys for /debug/keys.
func (e *Engine) Keys() []KeyView {
	rs := e.rules.Load()
	if rs == nil || rs.keys == nil {
		return []KeyView{}
	}
	used := e.usage.Snapshot()
	now := e.now()
	out := make([]KeyView, 0, len(rs.keys.byID))
	for _, k := range rs.keys.byID {
		status := "active"
		switch {
		case !k.revoked.IsZero() && !now.Before(k.revoked):
			status = "revoked"
		case !k.expires.IsZero() && !now.Before(k.expires):
			status = "expired"
		}
		out = append(out, KeyView{ID: k.id, Tier: k.tier, Scopes: k.scopes, Services: k.services, Status: status, Secrets: len(k.secrets), LastUsed: used[k.id]})
	}
	slices.SortFunc(out, func(a, b KeyView) int { return strings.Compare(a.ID, b.ID) })
	return out
}
