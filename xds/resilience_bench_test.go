package xds

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// resilientPolicy is largePolicy with every service protected (circuit
// breaker, outlier detection, health check, retry budget) and every route
// retrying with timeouts: the most a policy of that size can ask for.
func resilientPolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	// Every service and route of largePolicyYAML's flow-style lines gets
	// the settings, written into its mapping.
	const service = `timeout: 2s, circuit_breaker: { max_connections: 100, max_pending: 10, max_requests: 200, max_retries: 5 }, ` +
		`outlier_detection: { consecutive_5xx: 5, interval: 10s, base_ejection_time: 30s, max_ejection_percent: 10 }, ` +
		`health_check: { path: /healthz, interval: 5s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 3 }, ` +
		`retry_budget: { percent: 20, min_concurrency: 3 } }`
	const route = "    per_try_timeout: 500ms\n" +
		"    retries: { attempts: 2, allow_with_idempotency_key: true, backoff: { base: 25ms, max: 250ms } }\n"
	var out strings.Builder
	for _, line := range strings.SplitAfter(largePolicyYAML(""), "\n") {
		switch {
		case strings.HasPrefix(line, "  svc-"):
			out.WriteString(strings.TrimSuffix(line, " }\n") + ", " + service + "\n")
		case strings.HasPrefix(line, "    to: "):
			out.WriteString(line + route)
		default:
			out.WriteString(line)
		}
	}
	return policytest.Load(tb, out.String())
}

// BenchmarkSnapshotResilience10kRoutes measures the snapshot of the
// resilient 10,000-route policy and, in the same loop, of the same policy
// without resilience settings (the baseline), and reports their ratio:
// what retries, timeouts and cluster protection add to a reload.
func BenchmarkSnapshotResilience10kRoutes(b *testing.B) {
	benchmarkSnapshotAgainst(b, largePolicy(b), resilientPolicy(b), "ms/resilient-snapshot")
}

// benchmarkSnapshotAgainst times the snapshot of variant and, in the same
// loop, of plain (the baseline), and reports their ratio and variant's
// milliseconds per snapshot as unit.
func benchmarkSnapshotAgainst(b *testing.B, plain, variant *policy.Policy, unit string) {
	var base, with time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if _, err := Snapshot(plain, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := Snapshot(variant, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
		base, with = base+mid.Sub(start), with+time.Since(mid)
	}
	b.ReportMetric(float64(with)/float64(base), "x-baseline")
	b.ReportMetric(float64(with.Milliseconds())/float64(b.N), unit)
}
