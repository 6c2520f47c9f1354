package main

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// degraded lists the failure modes in effect: a refused policy (the last
// good one serves), rate limiting without Redis, identity providers whose
// keys cannot be fetched. The rate limiter's state is read from its gauge,
// the one operators alert on, so page and alert never disagree.
func (s *statusSources) degraded() []degradedMode {
	out := []degradedMode{}
	if s.reloader != nil {
		if e := s.reloader.LastError(); e != "" {
			out = append(out, degradedMode{Component: "policy", Mode: "last_good", Detail: "the last reload was refused; the last good generation serves: " + e})
		}
	}
	for _, mode := range gaugeLabelsAt(s.gatherer, "tollgate_ratelimit_degraded", "mode", 1) {
		out = append(out, degradedMode{Component: "ratelimit", Mode: mode, Detail: "Redis is unreachable; " + mode + " answers rate-limit decisions"})
	}
	if s.jwks != nil {
		for _, j := range s.jwks() {
			switch {
			case j.Stale:
				out = append(out, degradedMode{Component: "authz", Mode: "jwks_stale",
					Detail: fmt.Sprintf("JWKS of %s (%s) unavailable beyond max_stale; the provider's outage mode applies: %s", j.Issuer, j.URI, j.Error)})
			case j.Failing:
				out = append(out, degradedMode{Component: "authz", Mode: "jwks_failing",
					Detail: fmt.Sprintf("JWKS of %s (%s) failing; serving the keys fetched at %s: %s", j.Issuer, j.URI, j.FetchedAt.UTC().Format("2006-01-02T15:04:05Z"), j.Error)})
			}
		}
	}
	return out
}

// gaugeLabelsAt returns the values of label on the samples of a gauge
// family that equal v.
func gaugeLabelsAt(g prometheus.Gatherer, name, label string, v float64) []string {
	if g == nil {
		return nil
	}
	// Gather returns what it could gather with the error of the rest:
	// one broken collector must not hide a degraded mode.
	families, _ := g.Gather()
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetGauge().GetValue() != v {
				continue
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}
