package policy

import (
	"slices"
	"time"
)

// LimitCalls says how Envoy asks Tollgate about a protected route's rate
// limits. By default (OneCall) a route with an auth rule and limits costs
// Envoy one ext_authz call, which decides its before_auth limits, then
// authentication and authorization, then its other limits, in that order
// and with the answers the rate-limit filters would give. `one_call:
// false` keeps the two rate-limit filters calling the rate-limit service
// (RLS) around ext_authz, as before: for deployments whose authz and
// rate-limit services run apart.
type LimitCalls struct {
	Source `yaml:"-"`

	// OneCall decides a protected route's limits in its ext_authz call;
	// default true.
	OneCall *bool `yaml:"one_call"`
}

// mergeLimitCalls takes the limit_calls section of one document; it may
// be written once in the whole policy.
func (p *Policy) mergeLimitCalls(c *LimitCalls, errs *Errors) {
	if c == nil {
		return
	}
	if p.LimitCalls != nil {
		errs.addf(c.Pos(), "limit_calls", "limit_calls is already defined at %s", p.LimitCalls.Pos())
		return
	}
	p.LimitCalls = c
}

// applyLimitCallsDefaults makes the setting explicit.
func applyLimitCallsDefaults(p *Policy) {
	if p.LimitCalls == nil {
		p.LimitCalls = &LimitCalls{}
	}
	if p.LimitCalls.OneCall == nil {
		on := true
		p.LimitCalls.OneCall = &on
	}
}

// LimitsWithAuth reports whether the route's limits are decided in its
// ext_authz call rather than by the rate-limit filters: one_call is on,
// the route has an auth rule and at least one limit, and none of its
// limits counts by a request header. Header values would have to reach
// Tollgate in the Check request, and the headers ext_authz sends are a
// listener setting: keying on them would make a limit edit replace every
// listener instead of one route configuration.
func (p *Policy) LimitsWithAuth(r *Route) bool {
	if p.LimitCalls == nil || p.LimitCalls.OneCall == nil || !*p.LimitCalls.OneCall {
		return false
	}
	if r.Auth == nil || r.Auth.Public {
		return false
	}
	limits := p.RateLimitsFor(r)
	if len(limits) == 0 {
		return false
	}
	for _, l := range limits {
		if slices.ContainsFunc(l.Parts, func(k KeyPart) bool { return k.Dimension == KeyHeader }) {
			return false
		}
	}
	return true
}

// CheckTimeout is how long Envoy waits for an ext_authz answer. With
// one_call it covers two limit decisions at the store's deadline
// (before_auth, then the others) plus RateLimitCallMargin, so that a slow
// or down store ends in its own failure mode, as the rate-limit filters'
// CallTimeout lets it, rather than in auth's failure mode; the auth
// timeout otherwise, or if longer.
func (p *Policy) CheckTimeout() time.Duration {
	t := p.AuthzTimeout()
	if p.LimitCalls != nil && p.LimitCalls.OneCall != nil && *p.LimitCalls.OneCall {
		t = max(t, 2*p.RateLimitStore.DecisionDeadline()+RateLimitCallMargin)
	}
	return t
}
