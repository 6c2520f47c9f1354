// Package reloader keeps the serving policy generation: it loads a policy
// directory, hands each new valid generation to the components that compile
// it (xDS, authz, rate limiting), and keeps the last good generation when a
// load fails, so a bad edit never replaces a good policy.
package reloader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/policy"
)

// Stage compiles a policy generation for one component (xDS, authz, rate
// limiting) without changing what that component serves, and returns the
// function that makes the compiled generation live. The reloader commits
// only when every stage compiled, so components never serve different
// generations because one of them rejected it.
//
// ctx is the reload's: a stage that waits on the network (authz fetching
// a new provider's JWKS) returns ctx's error when it ends, so a shutdown
// never waits on an identity provider. Whatever a stage returns, a reload
// whose ctx is done commits nothing.
type Stage func(ctx context.Context, p *policy.Policy) (commit func(), err error)

// Generation is the policy being served and when it was loaded.
type Generation struct {
	Policy   *policy.Policy
	LoadedAt time.Time
	// RestoredFrom is the state file the generation was read from when
	// the policy directory was refused at startup; "" when it came from
	// the directory.
	RestoredFrom string
}

// rejection is the last refused load: when, and why.
type rejection struct {
	at  time.Time
	err string
}

// Reloader loads the policy directory on demand. Reload calls are
// serialised by a mutex; the current generation and the last rejection
// are published through atomic pointers so readers (admin endpoints) never
// block a reload.
type Reloader struct {
	dir    string
	log    *slog.Logger
	stages []Stage

	mu      sync.Mutex // serialises Reload
	current atomic.Pointer[Generation]
	// lastErr is the last load's rejection, nil when it was applied.
	lastErr atomic.Pointer[rejection]

	// state, when set, keeps the last good generation across restarts;
	// saved is the generation read from it (once, under mu), savedVersion
	// the version the file holds.
	state        *State
	stateRead    bool
	saved        *policy.Policy
	savedAt      time.Time
	savedVersion string
	// saveMu guards savedVersion and the state file's writes: a staged
	// rollout saves when it completes, outside mu.
	saveMu sync.Mutex
	// saveWhen, when set, is handed each applied generation's save,
	// to run it once the generation has rolled out (SaveWhen).
	saveWhen func(version string, save func())

	m *metrics
}

// New returns a Reloader for dir that compiles each valid generation with
// every stage, then commits them in order.
func New(dir string, log *slog.Logger, reg prometheus.Registerer, stages ...Stage) *Reloader {
	return &Reloader{dir: dir, log: log, stages: stages, m: newMetrics(reg)}
}

// UseState makes the reloader save every applied generation to s and,
// while no generation serves (at startup), serve the saved one when the
// policy directory is refused. Call it before the first Reload.
func (r *Reloader) UseState(s *State) { r.state = s }

// SaveWhen makes the reloader save an applied generation as the last good
// one only when gate runs the save it is handed: the xDS server does once
// the generation has rolled out to every Envoy, and never for one rolled
// back, so that a restart never serves a generation that was rolled back.
// Call it before the first Reload.
func (r *Reloader) SaveWhen(gate func(version string, save func())) { r.saveWhen = gate }

// Current is the generation being served, or nil before the first valid load.
func (r *Reloader) Current() *Generation { return r.current.Load() }

// LastError is the error of the last rejected load, or "" if the last load
// was good.
func (r *Reloader) LastError() string {
	if e := r.lastErr.Load(); e != nil {
		return e.err
	}
	return ""
}

// Status describes, in a few lines for /readyz, what is serving and
// whether the last load was refused.
func (r *Reloader) Status() string {
	var b strings.Builder
	if g := r.current.Load(); g != nil {
		p := g.Policy
		fmt.Fprintf(&b, "serving policy version %s (%d listeners, %d routes) since %s\n",
			p.Version, len(p.Listeners), len(p.Routes), g.LoadedAt.UTC().Format(time.RFC3339))
		if g.RestoredFrom != "" {
			fmt.Fprintf(&b, "the policy directory was refused at startup: serving the last good generation from %s\n", g.RestoredFrom)
		}
	}
	if e := r.lastErr.Load(); e != nil {
		fmt.Fprintf(&b, "last reload refused at %s: %s\n", e.at.UTC().Format(time.RFC3339), e.err)
	}
	return b.String()
}

// Reload loads the directory and, if it is valid, passes the reload guard
// (policy.CheckReload) and differs from what is serving, applies it. On
// error the previous generation keeps serving and every positioned error
// is logged. When ctx ends first (serve is stopping), Reload returns its
// error having committed nothing; that is no refusal of the policy.
func (r *Reloader) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := policy.Load(r.dir)
	if err != nil {
		r.reject(reasonInvalid, err)
		r.restore(ctx)
		return err
	}
	cur := r.current.Load()
	if cur != nil && cur.Policy.Version == p.Version {
		// The directory holds what serves again (a refused edit was
		// reverted, say): no refusal is pending any more.
		r.lastErr.Store(nil)
		r.m.lastResult.Set(1)
		r.m.reloads.WithLabelValues("unchanged").Inc()
		return nil
	}
	if err := r.admit(ctx, r.lastGood(cur), p); err != nil {
		r.restore(ctx)
		return err
	}
	r.lastErr.Store(nil)
	r.serve(&Generation{Policy: p, LoadedAt: time.Now()})
	r.m.reloads.WithLabelValues("applied").Inc()
	r.m.lastResult.Set(1)
	r.log.Info("policy applied", "version", p.Version, "listeners", len(p.Listeners), "services", len(p.Services), "routes", len(p.Routes))
	if r.saveWhen != nil {
		r.saveWhen(p.Version, func() { r.save(p) })
	} else {
		r.save(p)
	}
	return nil
}

// lastGood is the generation a new one is compared with: the serving one,
// or before any serves, the one saved by the previous process.
func (r *Reloader) lastGood(cur *Generation) *policy.Policy {
	if cur != nil {
		return cur.Policy
	}
	return r.savedGeneration()
}

// admit runs the reload guard against the last good generation, then
// every stage; a refusal is recorded and returned. A reload cancelled
// meanwhile is returned unrecorded: the policy was not refused.
func (r *Reloader) admit(ctx context.Context, serving, p *policy.Policy) error {
	if err := policy.CheckReload(serving, p); err != nil {
		var ge *policy.GuardError
		errors.As(err, &ge)
		r.reject(ge.Reason, err)
		return err
	}
	if err := r.apply(ctx, p); err != nil {
		if ctx.Err() != nil {
			r.log.Info("policy reload cancelled; nothing committed", "version", p.Version, "error", err)
			return err
		}
		r.reject(reasonComponent, err)
		return err
	}
	return nil
}

// serve publishes g, already committed in every stage, as the current
// generation.
func (r *Reloader) serve(g *Generation) {
	p := g.Policy
	r.current.Store(g)
	r.saved = nil // only needed while nothing served
	r.m.lastReload.SetToCurrentTime()
	r.m.listeners.Set(float64(len(p.Listeners)))
	r.m.routes.Set(float64(len(p.Routes)))
}

// apply compiles p in every stage, then commits every stage, unless a
// stage refused it or ctx ended before the commits began: the commits
// run all or none, so ctx is not looked at once they start.
func (r *Reloader) apply(ctx context.Context, p *policy.Policy) error {
	commits := make([]func(), 0, len(r.stages))
	for _, stage := range r.stages {
		if err := ctx.Err(); err != nil {
			return err
		}
		commit, err := stage(ctx, p)
		if err != nil {
			return err
		}
		commits = append(commits, commit)
	}
	// A stage that ignores ctx may compile after it ended.
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, commit := range commits {
		commit()
	}
	return nil
}

func (r *Reloader) reject(reason string, err error) {
	msg := err.Error()
	r.lastErr.Store(&rejection{at: time.Now(), err: msg})
	r.m.reloads.WithLabelValues("rejected").Inc()
	r.m.rejections.WithLabelValues(reason).Inc()
	r.m.lastResult.Set(0)
	serving := "none"
	if cur := r.current.Load(); cur != nil {
		serving = cur.Policy.Version
	}
	var errs policy.Errors
	if !errors.As(err, &errs) {
		r.log.Error("policy rejected; the previous policy keeps serving", "dir", r.dir, "reason", reason, "serving_version", serving, "error", msg)
		return
	}
	for _, e := range errs {
		r.log.Error("policy rejected; the previous policy keeps serving", "dir", r.dir, "reason", reason, "serving_version", serving, "error", e.Error())
	}
}
