package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// gatewayABEnv names the environment variable holding "NAME=value", set
// by BenchmarkGatewayAB for gateway B's processes only (its Tollgate and
// its Envoy, which ignores it).
const gatewayABEnv = "TOLLGATE_BENCH_B_ENV"

// BenchmarkGatewayAB runs two of BenchmarkGateway's gateways at once, A
// as shipped and B with one environment variable set for its Tollgate
// (GOMAXPROCS=1, say, or a variant's switch while evaluating one), and
// alternates 2-second rounds over the four targets as
// BenchmarkOneCallVsTwoCalls does. Without TOLLGATE_BENCH_B_ENV both are
// alike: the A/A run measures how far two identical gateways differ on
// this machine, the band a variant must leave to count as an effect.
//
//	TOLLGATE_BENCH_B_ENV=GOMAXPROCS=1 go test ./e2e -run '^$' -bench BenchmarkGatewayAB -benchtime 1x
func BenchmarkGatewayAB(b *testing.B) {
	a := startGatewayBenchWith(b, gatewayBenchPolicy)
	if name, value, ok := strings.Cut(os.Getenv(gatewayABEnv), "="); ok {
		b.Setenv(name, value) // inherited by B's processes, restored at the end
	}
	v := startGatewayBenchWith(b, gatewayBenchPolicy)
	for range b.N {
		var ra, rb, pab, a50, a99, b50, b99 []float64
		for i := range oneCallRounds {
			plA, prA, plB, prB := rounds(b, i, vegeta.Rate{}, a, v)
			ra, rb = append(ra, prA.Throughput/plA.Throughput), append(rb, prB.Throughput/plB.Throughput)
			pab = append(pab, prB.Throughput/prA.Throughput)
			plA, prA, plB, prB = rounds(b, i, vegeta.Rate{Freq: oneCallRate, Per: time.Second}, a, v)
			a50, a99 = append(a50, ms(prA.Latencies.P50-plA.Latencies.P50)), append(a99, ms(prA.Latencies.P99-plA.Latencies.P99))
			b50, b99 = append(b50, ms(prB.Latencies.P50-plB.Latencies.P50)), append(b99, ms(prB.Latencies.P99-plB.Latencies.P99))
		}
		b.ReportMetric(median(ra), "A_ratio")
		b.ReportMetric(median(rb), "B_ratio")
		b.ReportMetric(median(pab), "protected_B/A")
		b.ReportMetric(median(a50), "A_added_p50_ms")
		b.ReportMetric(median(b50), "B_added_p50_ms")
		b.ReportMetric(median(a99), "A_added_p99_ms")
		b.ReportMetric(median(b99), "B_added_p99_ms")
	}
}
