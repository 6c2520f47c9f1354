package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/policy"
)

// AuthzCluster is the cluster through which Envoy reaches Tollgate's
// ext_authz service (Options.AuthzAddress).
const AuthzCluster = "tollgate_authz"

// routeContextKey is the per-route context extension naming the policy
// route, so Tollgate applies that route's rule without matching routes
// again (authz.RouteContextKey; xds does not import authz).
const routeContextKey = "route"

// extAuthzFilter asks Tollgate's authorization service about each request
// of a route with an auth rule. It is in every listener's chain, disabled;
// a route with an auth rule enables it with its per-route settings, so
// public routes cost no call and protecting or opening a route changes
// only the route configuration.
type extAuthzFilter struct{}

func (extAuthzFilter) name() string { return wellknown.HTTPExternalAuthorization }

func (extAuthzFilter) optIn() bool { return true }

// listenerConfig reads only the policy's auth section (timeout, failure
// mode, API-key header): an edit there replaces the listener.
func (extAuthzFilter) listenerConfig(p *policy.Policy, _ *policy.Listener) (proto.Message, error) {
	failOpen := p.Auth != nil && p.Auth.FailureMode == policy.FailAllow
	// x-real-ip is the client's resolved address (identityHeaderFilter),
	// for Tollgate's logs and limits; content-type tells a gRPC call,
	// whose refusal by a limit carries RESOURCE_EXHAUSTED.
	headers := []string{"authorization", "x-request-id", realIPHeader, "content-type", p.APIKeyHeader()}
	return &extauthzv3.ExtAuthz{
		Services: &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: AuthzCluster}},
			Timeout:         durationpb.New(p.CheckTimeout()),
		}},
		TransportApiVersion: corev3.ApiVersion_V3,
		// Fail closed unless the policy says otherwise, and answer 503:
		// the service being unreachable is not the client's fault.
		FailureModeAllow: failOpen,
		StatusOnError:    &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		// Only the headers a decision needs travel to Tollgate (the path,
		// with its query string, always does); never the body.
		AllowedHeaders: exactMatchers(headers),
	}, nil
}

func exactMatchers(names []string) *matcherv3.ListStringMatcher {
	m := &matcherv3.ListStringMatcher{}
	for _, n := range names {
		m.Patterns = append(m.Patterns, &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}, IgnoreCase: true,
		})
	}
	return m
}

// limitsContextKey is the per-route context extension that asks Tollgate
// to decide the route's limits in the same Check (authz.LimitsContextKey).
const limitsContextKey = "limits"

// routeConfig enables the filter on a route with an auth rule; a public
// route, or one without a rule, leaves it disabled. A route whose limits
// the Check decides too (policy.LimitsWithAuth) says so in its context,
// so switching a route between one call and two changes only its route
// configuration.
func (extAuthzFilter) routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error) {
	if r.Auth == nil || r.Auth.Public {
		return nil, nil
	}
	ext := map[string]string{routeContextKey: r.Name}
	if p.LimitsWithAuth(r) {
		ext[limitsContextKey] = "with_auth"
	}
	return &extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: &extauthzv3.CheckSettings{
		ContextExtensions: ext,
	}}}, nil
}
