package xds

import (
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"

	"github.com/tollgate/tollgate/policy"
)

// requestMirrorPolicies copies a route's requests to its mirror service.
// Envoy's router sends the copy (its Host suffixed with "-shadow", so the
// mirror can tell copies apart) and drops the answer; the copy passes no
// HTTP filter, so ext_authz and the rate limiters see each request once.
// A request the filters refuse never reaches the router and is not copied.
// The mirror service counts as used (addListener), so its cluster exists.
func requestMirrorPolicies(r *policy.Route) []*routev3.RouteAction_RequestMirrorPolicy {
	m := r.Mirror
	if m == nil {
		return nil
	}
	return []*routev3.RouteAction_RequestMirrorPolicy{{
		Cluster:         m.Service,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: fractionalPercent(m.Percent)},
	}}
}

// fractionalPercent is a policy percentage in millionths, the finest
// denominator Envoy has, so that 0.01% is not rounded to 0.
func fractionalPercent(p float64) *typev3.FractionalPercent {
	return &typev3.FractionalPercent{
		Numerator:   uint32(math.Round(p * 10_000)), // validation keeps p within 0..100
		Denominator: typev3.FractionalPercent_MILLION,
	}
}
