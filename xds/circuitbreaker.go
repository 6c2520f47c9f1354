package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// circuitBreakers translates a service's circuit breaker and retry budget
// into Envoy thresholds. Beyond a threshold Envoy answers 503 at once (with
// x-envoy-overloaded) instead of queueing. A retry budget replaces the
// fixed max_retries: Envoy enforces both per cluster, over every route
// that sends the service traffic.
func circuitBreakers(s *policy.Service) *clusterv3.CircuitBreakers {
	if s.CircuitBreaker == nil && s.RetryBudget == nil {
		return nil
	}
	cb := s.CircuitBreaker
	if cb == nil {
		cb = &policy.CircuitBreaker{}
	}
	out := &clusterv3.CircuitBreakers{
		Thresholds: []*clusterv3.CircuitBreakers_Thresholds{thresholds(corev3.RoutingPriority_DEFAULT, cb, s.RetryBudget)},
	}
	if cb.HighPriority != nil {
		out.Thresholds = append(out.Thresholds, thresholds(corev3.RoutingPriority_HIGH, cb.HighPriority, s.RetryBudget))
	}
	return out
}

// thresholds is one priority's limits; zero limits (a hand-built policy
// without defaults) are left to Envoy.
func thresholds(priority corev3.RoutingPriority, cb *policy.CircuitBreaker, budget *policy.RetryBudget) *clusterv3.CircuitBreakers_Thresholds {
	t := &clusterv3.CircuitBreakers_Thresholds{
		Priority:           priority,
		MaxConnections:     optionalUInt32(cb.MaxConnections),
		MaxPendingRequests: optionalUInt32(cb.MaxPending),
		MaxRequests:        optionalUInt32(cb.MaxRequests),
		MaxRetries:         optionalUInt32(cb.MaxRetries),
	}
	// The policy may set 0 pending (never queue) or 0 retries explicitly.
	if cb.Has("max_pending") {
		t.MaxPendingRequests = wrapperspb.UInt32(uint32(max(cb.MaxPending, 0)))
	}
	if cb.Has("max_retries") {
		t.MaxRetries = wrapperspb.UInt32(uint32(max(cb.MaxRetries, 0)))
	}
	if budget != nil {
		t.RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: budget.Percent},
			MinRetryConcurrency: wrapperspb.UInt32(uint32(max(budget.MinConcurrency, 0))),
		}
	}
	return t
}

// optionalUInt32 is nil for values Envoy should default.
func optionalUInt32(n int) *wrapperspb.UInt32Value {
	if n <= 0 {
		return nil
	}
	return wrapperspb.UInt32(uint32(n))
}
