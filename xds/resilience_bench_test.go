package xds

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// resilientPolicy is largePolicy with every service protected (circuit
// breaker, outlier detection, health check, retry budget) and every route
// retrying with timeouts: the most a policy of that size can ask for.
func resilientPolicy() *policy.Policy {
	p := largePolicy()
	for _, s := range p.Services {
		s.Timeout = policy.Duration(2 * time.Second)
		s.CircuitBreaker = &policy.CircuitBreaker{MaxConnections: 100, MaxPending: 10, MaxRequests: 200, MaxRetries: 5}
		s.OutlierDetection = &policy.OutlierDetection{Consecutive5xx: 5, Interval: policy.Duration(10 * time.Second),
			BaseEjectionTime: policy.Duration(30 * time.Second), MaxEjectionPercent: 10}
		s.HealthCheck = &policy.HealthCheck{Path: "/healthz", Interval: policy.Duration(5 * time.Second),
			Timeout: policy.Duration(time.Second), HealthyThreshold: 2, UnhealthyThreshold: 3}
		s.RetryBudget = &policy.RetryBudget{Percent: 20, MinConcurrency: 3}
	}
	for _, r := range p.Routes {
		r.PerTryTimeout = policy.Duration(500 * time.Millisecond)
		r.Retries = &policy.Retries{Attempts: 2, On: policy.DefaultRetryOn, AllowWithIdempotencyKey: true,
			Backoff: &policy.Backoff{Base: policy.Duration(25 * time.Millisecond), Max: policy.Duration(250 * time.Millisecond)}}
	}
	return p
}

// BenchmarkSnapshotResilience10kRoutes measures the snapshot of the
// resilient 10,000-route policy and, in the same loop, of the same policy
// without resilience settings (the baseline), and reports their ratio:
// what retries, timeouts and cluster protection add to a reload.
func BenchmarkSnapshotResilience10kRoutes(b *testing.B) {
	plain, resilient := largePolicy(), resilientPolicy()
	var base, with time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := Snapshot(plain, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := Snapshot(resilient, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
		base, with = base+mid.Sub(start), with+time.Since(mid)
	}
	b.ReportMetric(float64(with)/float64(base), "x-baseline")
	b.ReportMetric(float64(with.Milliseconds())/float64(b.N), "ms/resilient-snapshot")
}
