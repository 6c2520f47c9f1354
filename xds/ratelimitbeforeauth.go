package xds

import (
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/policy"
)

// beforeAuthRateLimitFilter is a second instance of Envoy's rate-limit
// filter, placed before ext_authz, for the limits that say
// `stage: before_auth`. Without it a request authentication refuses is
// never counted, so a flood of bad credentials costs one authz call each
// and nothing stops it.
//
// Both instances call the same Tollgate service with the same descriptor
// shape (rateLimitActions); each reads its per-route configuration under
// its own filter name, which is what splits a route's limits between
// them. Envoy ignores the stage of per-route rate_limits entries, so the
// filter's stage does not split them; it is set to keep the two instances
// apart should route- or virtual-host-level rate_limits ever be emitted.
// The dynamic-metadata namespace stays Envoy's default, shared with the
// other instance, so the access log names the refusing limit whichever
// instance refused.
type beforeAuthRateLimitFilter struct{}

const (
	beforeAuthRateLimitFilterName = "tollgate.ratelimit.before_auth"
	// beforeAuthRateLimitStage is the filter's Envoy stage; the after_auth
	// filter has the default, 0.
	beforeAuthRateLimitStage = 1
	// beforeAuthStatPrefix tells the two instances' stats apart
	// (cluster.<service>.ratelimit.before_auth.ok, .over_limit, …).
	beforeAuthStatPrefix = "before_auth"
)

func (beforeAuthRateLimitFilter) name() string { return beforeAuthRateLimitFilterName }

func (beforeAuthRateLimitFilter) optIn() bool { return true }

// listenerConfig is in every listener, disabled; a route naming a
// before_auth limit enables it.
func (beforeAuthRateLimitFilter) listenerConfig(p *policy.Policy, _ *policy.Listener) (proto.Message, error) {
	c := rateLimitFilterConfig(p.RateLimitStore)
	c.Stage = beforeAuthRateLimitStage
	c.StatPrefix = beforeAuthStatPrefix
	return c, nil
}

func (beforeAuthRateLimitFilter) routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error) {
	return rateLimitPerRoute(p, r, true), nil
}
