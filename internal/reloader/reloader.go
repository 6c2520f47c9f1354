// Package reloader keeps the serving policy generation: it loads a policy
// directory, hands each new valid generation to the components that compile
// it (xDS, authz, rate limiting), and keeps the last good generation when a
// load fails, so a bad edit never replaces a good policy.
package reloader

import (
	"errors"
	"log/slog"
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
type Stage func(p *policy.Policy) (commit func(), err error)

// Generation is the policy being served and when it was loaded.
type Generation struct {
	Policy   *policy.Policy
	LoadedAt time.Time
}

// Reloader loads the policy directory on demand. Reload calls are
// serialised by a mutex; the current generation is published through an
// atomic pointer so readers (admin endpoints) never block a reload.
type Reloader struct {
	dir    string
	log    *slog.Logger
	stages []Stage

	mu      sync.Mutex // serialises Reload
	current atomic.Pointer[Generation]
	lastErr atomic.Pointer[string]

	reloads    *prometheus.CounterVec
	lastResult prometheus.Gauge
	lastReload prometheus.Gauge
}

// New returns a Reloader for dir that compiles each valid generation with
// every stage, then commits them in order.
func New(dir string, log *slog.Logger, reg prometheus.Registerer, stages ...Stage) *Reloader {
	r := &Reloader{
		dir:    dir,
		log:    log,
		stages: stages,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_policy_reloads_total",
			Help: "Policy loads by result: applied, unchanged or rejected.",
		}, []string{"result"}),
		lastResult: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_policy_last_reload_successful",
			Help: "1 if the last policy load was valid, 0 if it was rejected and an older policy is serving.",
		}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_policy_last_applied_timestamp_seconds",
			Help: "When the serving policy generation was applied.",
		}),
	}
	for _, result := range []string{"applied", "unchanged", "rejected"} {
		r.reloads.WithLabelValues(result)
	}
	reg.MustRegister(r.reloads, r.lastResult, r.lastReload)
	return r
}

// Current is the generation being served, or nil before the first valid load.
func (r *Reloader) Current() *Generation { return r.current.Load() }

// LastError is the error of the last rejected load, or "" if the last load
// was good.
func (r *Reloader) LastError() string {
	if e := r.lastErr.Load(); e != nil {
		return *e
	}
	return ""
}

// Reload loads the directory and, if it is valid and differs from what is
// serving, applies it. On error the previous generation keeps serving and
// every positioned error is logged.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := policy.Load(r.dir)
	if err == nil {
		if cur := r.current.Load(); cur != nil && cur.Policy.Version == p.Version {
			r.reloads.WithLabelValues("unchanged").Inc()
			return nil
		}
		err = r.apply(p)
	}
	if err != nil {
		r.reject(err)
		return err
	}
	empty := ""
	r.lastErr.Store(&empty)
	r.current.Store(&Generation{Policy: p, LoadedAt: time.Now()})
	r.reloads.WithLabelValues("applied").Inc()
	r.lastResult.Set(1)
	r.lastReload.SetToCurrentTime()
	r.log.Info("policy applied", "version", p.Version, "listeners", len(p.Listeners), "services", len(p.Services), "routes", len(p.Routes))
	return nil
}

func (r *Reloader) apply(p *policy.Policy) error {
	commits := make([]func(), 0, len(r.stages))
	for _, stage := range r.stages {
		commit, err := stage(p)
		if err != nil {
			return err
		}
		commits = append(commits, commit)
	}
	for _, commit := range commits {
		commit()
	}
	return nil
}

func (r *Reloader) reject(err error) {
	msg := err.Error()
	r.lastErr.Store(&msg)
	r.reloads.WithLabelValues("rejected").Inc()
	r.lastResult.Set(0)
	serving := "none"
	if cur := r.current.Load(); cur != nil {
		serving = cur.Policy.Version
	}
	var errs policy.Errors
	if !errors.As(err, &errs) {
		r.log.Error("policy rejected; the previous policy keeps serving", "dir", r.dir, "serving_version", serving, "error", msg)
		return
	}
	for _, e := range errs {
		r.log.Error("policy rejected; the previous policy keeps serving", "dir", r.dir, "serving_version", serving, "error", e.Error())
	}
}
