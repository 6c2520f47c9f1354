package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/policy"
)

// Rate-limit filter settings.
const (
	// RateLimitCluster is the cluster through which Envoy reaches
	// Tollgate's rate-limit service.
	RateLimitCluster = "tollgate_ratelimit"
	// RateLimitDomain is the domain of every rate-limit request; Tollgate
	// finds the limit in the descriptor, so one domain suffices.
	RateLimitDomain = "tollgate"
)

// rateLimitFilter is Envoy's rate-limit filter calling Tollgate for the
// after_auth limits. It runs after authentication, whose identity headers
// its descriptors read. It is in every listener's chain, disabled; a
// route naming such a limit enables it with its descriptors.
// The RateLimit-* headers, Retry-After and the JSON 429 body come from
// Tollgate's responses, so no x-ratelimit header option is set.
type rateLimitFilter struct{}

// rateLimitMetadataNamespace is the filter's name, under which Envoy keeps
// the dynamic metadata Tollgate's answers carry (the refusing limit).
const rateLimitMetadataNamespace = "envoy.filters.http.ratelimit"

func (rateLimitFilter) name() string { return rateLimitMetadataNamespace }

func (rateLimitFilter) optIn() bool { return true }

func (rateLimitFilter) listenerConfig(p *policy.Policy, _ *policy.Listener) (proto.Message, error) {
	return rateLimitFilterConfig(p.RateLimitStore), nil
}

// rateLimitFilterConfig is the listener configuration both rate-limit
// filters share. It reads only the policy's rate_limit_store: how long
// Envoy waits for Tollgate (CallTimeout, derived from Tollgate's own
// decision deadline) and what it does when Tollgate does not answer
// (UnreachableMode). While Tollgate answers, its answer already applies
// the store's failure mode; these settings hold the same mode when
// Tollgate itself is down or frozen. A refusal for that reason is a 503,
// like ext_authz's: it is not the client's rate, and Envoy has no
// RateLimit-* headers to send with a 429.
func rateLimitFilterConfig(s *policy.RateLimitStore) *ratelimitv3.RateLimit {
	return &ratelimitv3.RateLimit{
		Domain:          RateLimitDomain,
		Timeout:         durationpb.New(s.CallTimeout()),
		FailureModeDeny: s.UnreachableMode() == policy.FailClosed,
		StatusOnError:   &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
		// A refused gRPC call ends with RESOURCE_EXHAUSTED, not Envoy's
		// default UNAVAILABLE, which gRPC clients retry at once.
		RateLimitedAsResourceExhausted: true,
		RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
			GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: RateLimitCluster},
			}},
			TransportApiVersion: corev3.ApiVersion_V3,
		},
	}
}

// routeConfig gives each after_auth limit a route names one descriptor
// (see rateLimitActions); before_auth limits are beforeAuthRateLimitFilter's.
func (rateLimitFilter) routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error) {
	return rateLimitPerRoute(p, r, false), nil
}

// rateLimitPerRoute is the per-route configuration of the route's limits
// checked before authentication (beforeAuth) or after it, or nil if there
// are none. Envoy reads it by filter name, so each filter gets only its
// own stage's limits. A route whose limits its ext_authz call decides
// (policy.LimitsWithAuth) gets none: both filters stay off on it.
func rateLimitPerRoute(p *policy.Policy, r *policy.Route, beforeAuth bool) proto.Message {
	if p.LimitsWithAuth(r) {
		return nil
	}
	var perRoute *ratelimitv3.RateLimitPerRoute
	for _, l := range p.RateLimitsFor(r) {
		if l.BeforeAuth() != beforeAuth {
			continue
		}
		if perRoute == nil {
			perRoute = &ratelimitv3.RateLimitPerRoute{}
		}
		perRoute.RateLimits = append(perRoute.RateLimits, &routev3.RateLimit{Actions: rateLimitActions(r, l)})
	}
	if perRoute == nil {
		return nil
	}
	return perRoute
}

// rateLimitActions makes Envoy build the descriptor of one limit as
// policy.LimitDescriptor describes it (which a one-call ext_authz
// decision fills in Go from the same description): the limit's and the
// route's names, the client address, the identity entries (present only
// when the authz filter set them; clients cannot, as every x-tollgate-*
// header they send is stripped first), and the headers the limit counts
// by.
func rateLimitActions(r *policy.Route, l *policy.RateLimit) []*routev3.RateLimit_Action {
	sources := policy.LimitDescriptor(r, l)
	actions := make([]*routev3.RateLimit_Action, len(sources))
	for i, src := range sources {
		switch {
		case src.ClientAddress:
			actions[i] = &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{}}}
		case src.Header != "":
			actions[i] = requestHeader(src.Header, src.Key)
		default:
			actions[i] = genericKey(src.Key, src.Value)
		}
	}
	return actions
}

func genericKey(key, value string) *routev3.RateLimit_Action {
	return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{
		GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorKey: key, DescriptorValue: value},
	}}
}

// requestHeader adds a header's value when present; an absent header
// leaves its entry out instead of dropping the whole descriptor.
func requestHeader(header, key string) *routev3.RateLimit_Action {
	return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
		RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: header, DescriptorKey: key, SkipIfAbsent: true},
	}}
}
