package xds

import (
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// routeTimeoutsAndRetries sets how long a route waits and when it retries.
// The request timeout is the route's, else its services' default; with
// neither, Envoy's 15s applies and nothing is written.
func routeTimeoutsAndRetries(action *routev3.RouteAction, p *policy.Policy, r *policy.Route) error {
	if r.Timeout > 0 || anyServiceTimeout(p, r) {
		action.Timeout = durationpb.New(p.RouteTimeout(r))
	}
	action.IdleTimeout = optionalDuration(r.IdleTimeout)
	rp, err := retryPolicy(r)
	action.RetryPolicy = rp
	return err
}

func anyServiceTimeout(p *policy.Policy, r *policy.Route) bool {
	return slices.ContainsFunc(r.To, func(d *policy.Destination) bool {
		s := p.Services[d.Service]
		return s != nil && s.Timeout > 0
	})
}

// retryPolicy translates a route's retries. Envoy applies a retry policy
// to every request of the route, so the rule "only idempotent requests are
// retried" is enforced with retriable_request_headers: Envoy retries a
// request only when one of these matchers matches it, that is when its
// method is GET, HEAD or OPTIONS or, where the route allows it, when it
// carries an Idempotency-Key header. Other requests get exactly one try.
// A retry goes to another endpoint when there is one (previous_hosts).
func retryPolicy(r *policy.Route) (*routev3.RetryPolicy, error) {
	rt := r.Retries
	if rt == nil {
		return nil, nil
	}
	on := rt.On
	if len(rt.RetriableStatusCodes) > 0 && !slices.Contains(on, "retriable-status-codes") {
		on = append(slices.Clone(on), "retriable-status-codes")
	}
	previousHosts, err := anypb.New(&previoushostsv3.PreviousHostsPredicate{})
	if err != nil {
		return nil, err
	}
	rp := &routev3.RetryPolicy{
		RetryOn:                 strings.Join(on, ","),
		NumRetries:              wrapperspb.UInt32(uint32(rt.Attempts)),
		PerTryTimeout:           optionalDuration(r.PerTryTimeout),
		RetriableRequestHeaders: retriableRequests(rt),
		RetryHostPredicate: []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       "envoy.retry_host_predicates.previous_hosts",
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: previousHosts},
		}},
		HostSelectionRetryMaxAttempts: 3,
	}
	for _, code := range rt.RetriableStatusCodes {
		rp.RetriableStatusCodes = append(rp.RetriableStatusCodes, uint32(code))
	}
	rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{
		BaseInterval: durationpb.New(rt.Backoff.Base.D()),
		MaxInterval:  durationpb.New(rt.Backoff.Max.D()),
	}
	return rp, nil
}

// retriableRequests matches the requests that may be retried: idempotent
// methods and, when allowed, requests with an Idempotency-Key.
func retriableRequests(rt *policy.Retries) []*routev3.HeaderMatcher {
	out := []*routev3.HeaderMatcher{{
		Name: ":method",
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
				Regex: "^(" + strings.Join(policy.IdempotentMethods, "|") + ")$",
			}},
		}},
	}}
	if rt.AllowWithIdempotencyKey {
		out = append(out, &routev3.HeaderMatcher{
			Name:                 policy.IdempotencyKeyHeader,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true},
		})
	}
	return out
}
