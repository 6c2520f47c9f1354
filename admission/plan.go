// Package admission answers Envoy's ext_authz Check for the routes whose
// rate limits are decided in the same call (policy.LimitsWithAuth): their
// before_auth limits first, then authentication and authorization
// (package authz), then their other limits (package ratelimiter). A
// protected, limited request then costs Envoy one call to Tollgate instead
// of three, with the answers the rate-limit filters would give: the same
// descriptors (policy.LimitDescriptor), decided by the same
// ratelimiter.Service, whose Decision builds the same headers and body.
// Every other Check is authz's own.
//
// authz and ratelimiter know nothing of each other; this package is
// where the two meet, as cmd/tollgate is where they are wired.
package admission

import (
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// Plans are one policy generation's limits per route, for the routes whose
// Check decides them. Immutable once compiled; Server swaps whole Plans.
type Plans struct {
	routes map[string]*routePlan
}

// routePlan is one route's limits by stage, each limit's descriptor as
// the policy describes it.
type routePlan struct {
	before, after [][]policy.DescriptorSource
}

// Compile builds the plans of a policy generation.
func Compile(p *policy.Policy) *Plans {
	out := &Plans{routes: map[string]*routePlan{}}
	for _, r := range p.Routes {
		if !p.LimitsWithAuth(r) {
			continue
		}
		plan := &routePlan{}
		for _, l := range p.RateLimitsFor(r) {
			d := policy.LimitDescriptor(r, l)
			if l.BeforeAuth() {
				plan.before = append(plan.before, d)
			} else {
				plan.after = append(plan.after, d)
			}
		}
		out.routes[r.Name] = plan
	}
	return out
}

// lookup reads the values descriptors take from the request.
type lookup struct {
	clientIP string
	// identity are the headers authentication sets (nil before it); they
	// are read instead of the request's, as Envoy's filters read the
	// headers ext_authz set, which replaced any a client sent.
	identity [][2]string
	headers  map[string]string
}

func (l *lookup) header(name string) (string, bool) {
	for _, h := range l.identity {
		if h[0] == name {
			return h[1], true
		}
	}
	if strings.HasPrefix(name, policy.IdentityHeaderPrefix) {
		return "", false
	}
	v, ok := l.headers[name]
	return v, ok
}
