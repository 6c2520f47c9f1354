package e2e

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPolicySwapUntouchedRoute measures what a large policy swap
// costs a route it does not touch, through a real Envoy: four keep-alive
// clients load the public route while the policy's other n routes are
// swapped for a reworked set (every path and service changed, 50
// services replaced by 50 others, protection flipped; see largeRoutes),
// b.N times. Latencies are tagged "steady" (one second
// before each swap, the baseline of the same run) or "swap" (from the
// file write until Envoy routes by the new policy, plus 200ms). It
// reports both phases' p50 and p99, the requests that were not 2xx, how
// long a swap took to reach Envoy, and how often Envoy replaced a
// listener (0 expected: a swap is a route change).
//
//	go test -run '^$' -bench BenchmarkPolicySwapUntouchedRoute -benchtime 5x ./e2e/
func BenchmarkPolicySwapUntouchedRoute(b *testing.B) {
	for _, n := range []int{1000, 5000, 20000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) { benchmarkPolicySwap(b, n) })
	}
}

func benchmarkPolicySwap(b *testing.B, n int) {
	g := startHitlessGateway(b, "routes:\n"+publicRoute, false)
	g.setRoutes(b, g.largeRoutes(n, "a"), fmt.Sprintf("/a/%d", n-1), largeRouteStatus(n-1, "a"))
	modified := g.listenerModified(b)
	l := startLoad(g.base+"/public", 4)
	variants := []string{"b", "a"}
	var applied time.Duration
	b.ResetTimer()
	for i := range b.N {
		l.setPhase("steady")
		time.Sleep(time.Second)
		v := variants[i%2]
		l.setPhase("swap")
		start := time.Now()
		g.setRoutes(b, g.largeRoutes(n, v), fmt.Sprintf("/%s/%d", v, n-1), largeRouteStatus(n-1, v))
		applied += time.Since(start)
		time.Sleep(200 * time.Millisecond)
	}
	b.StopTimer()
	bad, total := l.finish()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(l.percentile("steady", 50)), "steady-p50-ms")
	b.ReportMetric(ms(l.percentile("steady", 99)), "steady-p99-ms")
	b.ReportMetric(ms(l.percentile("swap", 50)), "swap-p50-ms")
	b.ReportMetric(ms(l.percentile("swap", 99)), "swap-p99-ms")
	b.ReportMetric(ms(applied/time.Duration(b.N)), "ms/swap")
	b.ReportMetric(float64(len(bad)), "non-2xx")
	b.ReportMetric(float64(total), "requests")
	b.ReportMetric(float64(g.listenerModified(b)-modified), "listeners-replaced")
	if len(bad) > 0 {
		b.Logf("first failures: %v", bad[:min(len(bad), 5)])
	}
}
