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

// httpFilter is one Envoy HTTP filter Tollgate may put in a listener's
// chain. Each feature (identity header stripping, ext_authz, rate limiting)
// implements it in a file of its own and is listed once in httpFilterChain.
type httpFilter interface {
	// name is the filter's name in the chain and the key of its per-route
	// configuration.
	name() string
	// listenerConfig is the filter's configuration for a listener, or nil
	// when the policy does not use the filter there.
	listenerConfig(p *policy.Policy, l *policy.Listener) (proto.Message, error)
	// routeConfig is the filter's per-route configuration
	// (typed_per_filter_config), or nil for none.
	routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error)
}

// httpFilterChain lists the filters in the order Envoy runs them. Order
// matters: client-supplied identity headers are removed before anything
// can add or read them; before_auth limits are checked before
// authentication, so a flood it would refuse never reaches it;
// authentication runs before the other limits, which key on the identity
// it establishes; credentials are removed once every filter that reads
// them has run. The router is appended last.
var httpFilterChain = []httpFilter{
	identityHeaderFilter{},
	beforeAuthRateLimitFilter{},
	extAuthzFilter{},
	rateLimitFilter{},
	credentialFilter{},
}

// httpFilters builds a listener's filter chain.
func httpFilters(p *policy.Policy, l *policy.Listener) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	for _, f := range httpFilterChain {
		config, err := f.listenerConfig(p, l)
		if err != nil {
			return nil, fmt.Errorf("HTTP filter %s: %w", f.name(), err)
		}
		if config == nil {
			continue
		}
		filter, err := typedHTTPFilter(f.name(), config)
		if err != nil {
			return nil, err
		}
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
