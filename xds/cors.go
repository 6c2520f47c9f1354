package xds

import (
	"fmt"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// corsFilter answers browsers' CORS preflights and adds
// Access-Control-Allow-Origin to allowed origins' answers. It runs before
// the rate limiters and ext_authz, so a preflight (which carries no
// credentials) is answered by Envoy without an authorization call, a
// limit's count or the service; its answer headers are added to the
// refusals of the filters after it too (401, 429), so pages can read them.
//
// It is in every listener's chain, disabled; a route under a cors
// setting (its own, else its listener's) enables it with the whole
// policy that applies (applyCORS). Envoy would otherwise merge a
// route's and its virtual host's CORS settings field by field, while a
// route's cors replaces its listener's.
type corsFilter struct{}

func (corsFilter) name() string { return wellknown.CORS }

func (corsFilter) optIn() bool { return true }

func (corsFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &corsv3.Cors{}, nil
}

// routeConfig is nil: the per-route policy depends on the listener too,
// and routeConfiguration sets it (applyCORS).
func (corsFilter) routeConfig(*policy.Policy, *policy.Route) (proto.Message, error) {
	return nil, nil
}

// applyCORS enables the CORS filter on a route whose requests a cors
// setting covers on listener l.
func applyCORS(route *routev3.Route, l *policy.Listener, r *policy.Route) error {
	c := policy.CORSFor(l, r)
	if c == nil {
		return nil
	}
	a, err := anypb.New(corsPolicy(c))
	if err != nil {
		return fmt.Errorf("encoding the CORS policy: %w", err)
	}
	if route.TypedPerFilterConfig == nil {
		route.TypedPerFilterConfig = map[string]*anypb.Any{}
	}
	route.TypedPerFilterConfig[corsFilter{}.name()] = a
	// Envoy's answers then depend on the request's Origin, which it does
	// not say: without Vary a shared cache could give one origin's
	// Access-Control-Allow-Origin to another. Added after the route's own
	// changes, so a route that sets Vary keeps Origin in it.
	route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: "vary", Value: "Origin"},
		AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD,
	})
	return nil
}

// corsPolicy translates a cors setting. Preflights of origins it does not
// allow are answered too (forward_not_matching_preflights false), without
// Access-Control-Allow-Origin, so that no preflight reaches
// authorization, the limits or the service.
func corsPolicy(c *policy.CORS) *corsv3.CorsPolicy {
	out := &corsv3.CorsPolicy{
		AllowMethods:                 strings.Join(c.AllowMethods, ", "),
		AllowHeaders:                 strings.Join(c.AllowHeaders, ", "),
		ExposeHeaders:                strings.Join(c.ExposeHeaders, ", "),
		AllowCredentials:             wrapperspb.Bool(c.AllowCredentials),
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	if c.MaxAge > 0 {
		out.MaxAge = strconv.FormatInt(int64(c.MaxAge.D().Seconds()), 10)
	}
	for _, o := range c.Origins {
		m := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o.Exact}, IgnoreCase: true}
		if o.Regex != "" {
			m = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: o.Regex}}}
		}
		out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, m)
	}
	return out
}
