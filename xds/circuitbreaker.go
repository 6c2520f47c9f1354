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
	out := &clusterv3.CircuitBreakers{
		Thresholds: []*clusterv3.CircuitBreakers_Thresholds{thresholds(corev3.RoutingPriority_DEFAULT, cb, s.RetryBudget)},
	}
	if cb != nil && cb.HighPriority != nil {
		out.Thresholds = append(out.Thresholds, thresholds(corev3.RoutingPriority_HIGH, cb.HighPriority, s.RetryBudget))
	}
	return out
}

// thresholds is one priority's limits. A service with a retry budget and
// no circuit breaker (cb nil) leaves the limits to Envoy. The policy may
// set 0 pending (never queue) or 0 retries explicitly.
func thresholds(priority corev3.RoutingPriority, cb *policy.CircuitBreaker, budget *policy.RetryBudget) *clusterv3.CircuitBreakers_Thresholds {
	t := &clusterv3.CircuitBreakers_Thresholds{Priority: priority}
	if cb != nil {
		t.MaxConnections = wrapperspb.UInt32(uint32(cb.MaxConnections))
		t.MaxPendingRequests = wrapperspb.UInt32(uint32(cb.MaxPending))
		t.MaxRequests = wrapperspb.UInt32(uint32(cb.MaxRequests))
		t.MaxRetries = wrapperspb.UInt32(uint32(cb.MaxRetries))
	}
	if budget != nil {
		t.RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
			BudgetPercent:       &typev3.Percent{Value: budget.Percent},
			MinRetryConcurrency: wrapperspb.UInt32(uint32(budget.MinConcurrency)),
		}
	}
	return t
}
