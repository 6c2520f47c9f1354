package xds

import (
	"fmt"

	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// httpFilter is one Envoy HTTP filter in every listener's chain. Each
// feature (identity header stripping, ext_authz, rate limiting) implements
// it in a file of its own and is listed once in httpFilterChain.
//
// The chain is the same whatever the routes say: every filter is always
// present, and one a route must ask for (optIn) is disabled at the
// listener and enabled by that route's typed_per_filter_config. Adding or
// removing the only protected or limited route therefore changes the
// route configuration only (RDS), never the listener, which Envoy would
// drain and replace.
type httpFilter interface {
	// name is the filter's name in the chain and the key of its per-route
	// configuration.
	name() string
	// listenerConfig is the filter's configuration in every listener. It
	// must read policy-wide settings only (auth failure mode, the
	// rate-limit store, ...), never routes, their auth rules or limits.
	listenerConfig(p *policy.Policy, l *policy.Listener) (proto.Message, error)
	// optIn reports whether the filter is disabled unless a route's
	// per-route configuration enables it.
	optIn() bool
	// routeConfig is the filter's per-route configuration
	// (typed_per_filter_config), or nil for none; for an optIn filter,
	// nil leaves it off on the route.
	routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error)
}

// httpFilterChain lists the filters in the order Envoy runs them. Order
// matters: client-supplied identity headers are removed before anything
// can add or read them; a client address refused by client_ips gets 403
// before anything else answers or counts the request; browsers' CORS
// preflights, which carry no credentials, are answered before any limit
// or authentication sees them; before_auth limits are checked before
// authentication, so a flood it would refuse never reaches it;
// authentication runs before the other limits, which key on the identity
// it establishes; credentials are removed once every filter that reads
// them has run; a body is held against max_body only once the request is
// admitted (requestlimits.go). The compressors come early, so that on the
// way back (Envoy runs encoders in reverse) they see every response, the
// gateway's own answers included. Fault injection is last before the
// router: a fault then acts as the service failing would, on requests
// authentication and the limits have admitted and counted once. The
// router is appended last.
var httpFilterChain = []httpFilter{
	identityHeaderFilter{},
	listenerClientIPFilter{},
	routeClientIPFilter{},
	compressionFilter{policy.Brotli},
	compressionFilter{policy.Gzip},
	corsFilter{},
	beforeAuthRateLimitFilter{},
	extAuthzFilter{},
	rateLimitFilter{},
	bodyLimitFilter{},
	credentialFilter{},
	faultFilter{},
}

// httpFilters builds a listener's filter chain.
func httpFilters(p *policy.Policy, l *policy.Listener) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	for _, f := range httpFilterChain {
		config, err := f.listenerConfig(p, l)
		if err != nil {
			return nil, fmt.Errorf("HTTP filter %s: %w", f.name(), err)
		}
		filter, err := typedHTTPFilter(f.name(), config)
		if err != nil {
			return nil, err
		}
		filter.Disabled = f.optIn()
		out = append(out, filter)
	}
	router, err := typedHTTPFilter(wellknown.Router, &routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return append(out, router), nil
}

// perFilterConfig is every filter's per-route configuration for a route.
func perFilterConfig(p *policy.Policy, r *policy.Route) (map[string]*anypb.Any, error) {
	var out map[string]*anypb.Any
	for _, f := range httpFilterChain {
		config, err := f.routeConfig(p, r)
		if err != nil {
			return nil, fmt.Errorf("HTTP filter %s: %w", f.name(), err)
		}
		if config == nil {
			continue
		}
		a, err := anypb.New(config)
		if err != nil {
			return nil, fmt.Errorf("encoding %s route config: %w", f.name(), err)
		}
		if out == nil {
			out = map[string]*anypb.Any{}
		}
		out[f.name()] = a
	}
	return out, nil
}

func typedHTTPFilter(name string, config proto.Message) (*hcmv3.HttpFilter, error) {
	a, err := anypb.New(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s filter: %w", name, err)
	}
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}}, nil
}
