package preflight

import (
	"fmt"
	"slices"

	"github.com/tollgate/tollgate/policy"
)

// checkBreakers asks every service to write its circuit breaker and its
// outlier detection. Load gives every service both by default (Envoy's
// 1024 requests, 5 consecutive 5xx), so a service always has them in
// Envoy; the checklist wants thresholds "derived from measured error
// rates", which a default is not, so only written ones pass. The live
// item (checkMeasuredBreakers) then holds them against measured rates.
func checkBreakers(p *policy.Policy) Result {
	var f findings
	for _, name := range sortedNames(p.Services) {
		s := p.Services[name]
		if !s.Has("circuit_breaker") {
			f.add(s.Pos(), "service %s has no circuit_breaker: Envoy's defaults (1024 connections, pending and active requests) apply; write limits sized to its measured load", name)
		}
		if !s.Has("outlier_detection") {
			f.add(s.Pos(), "service %s has no outlier_detection: the default (consecutive_5xx: %d) applies; write one sized to its measured error rate", name, policy.DefaultConsecutive5xx)
		}
	}
	return f.result("circuit-breakers", "circuit breakers and outlier detection on every service",
		fmt.Sprintf("%d services checked", len(p.Services)))
}

// checkTimeouts asks every route that forwards to have a timeout someone
// chose: written on the route, or on one of its services (a route without
// its own timeout takes the largest of its services'). Only the built-in
// fallback (policy.DefaultRouteTimeout) fails, as the "arbitrary default"
// the checklist warns about.
func checkTimeouts(p *policy.Policy) Result {
	var f findings
	n := 0
	for _, r := range p.Routes {
		if !forwards(r) {
			continue
		}
		n++
		if r.Has("timeout") || slices.ContainsFunc(r.To, func(d *policy.Destination) bool {
			s := p.Services[d.Service]
			return s != nil && s.Has("timeout")
		}) {
			continue
		}
		f.add(r.Pos(), "route %s has no timeout: the %v default applies; write timeout (2-3x the measured p99) on the route or its service", r.Name, policy.DefaultRouteTimeout)
	}
	return f.result("timeouts", "every route has a timeout that was chosen, not defaulted", fmt.Sprintf("%d routes checked", n))
}

// timeoutPos is where the timeout a route runs with is written: the
// route's own, else the service whose timeout it took.
func timeoutPos(p *policy.Policy, r *policy.Route) policy.Pos {
	if r.Has("timeout") {
		return r.At("timeout")
	}
	want := p.RouteTimeout(r)
	for _, d := range r.To {
		if s := p.Services[d.Service]; s != nil && s.Has("timeout") && s.Timeout.D() == want {
			return s.At("timeout")
		}
	}
	return r.Pos()
}

// checkRedisFailureMode wants on_failure written when counters live in
// Redis: the checklist asks that "the decision between fail-open and
// fail-closed has been documented", and a default is no decision.
func checkRedisFailureMode(p *policy.Policy) Result {
	const id, title = "redis-failure-mode", "Redis failure mode declared"
	s := p.RateLimitStore
	if s == nil || s.Redis == nil {
		return notApplicable(id, title, "counters live in memory: no Redis to fail")
	}
	var f findings
	if !s.Has("on_failure") {
		f.add(s.Pos(), "rate_limit_store has no on_failure: the default %s applies when Redis is down; write fail_open, fail_closed or grace", policy.FailOpen)
	}
	return f.result(id, title, "on_failure: "+string(s.OnFailure))
}

// checkJWKS wants every JWT provider's keys from a JWKS URL, refreshed in
// the background, so that the provider can rotate keys without a policy
// change.
func checkJWKS(p *policy.Policy) Result {
	const id, title = "jwks", "JWT keys from JWKS URLs"
	if p.Auth == nil || len(p.Auth.JWT) == 0 {
		return notApplicable(id, title, "no JWT provider")
	}
	var f findings
	for _, j := range p.Auth.JWT {
		if j.JWKSURI == "" {
			f.add(j.At("jwks_file"), "provider %s reads its keys from a file: a key rotation needs a policy change; use jwks_uri", j.Issuer)
		}
	}
	return f.result(id, title, fmt.Sprintf("%d providers checked", len(p.Auth.JWT)))
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
