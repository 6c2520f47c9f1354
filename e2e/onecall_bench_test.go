package e2e

import (
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// BenchmarkGatewayTwoCalls is BenchmarkGateway with limit_calls.one_call
// off: the protected route's limits go through Envoy's rate-limit filter
// and Tollgate's rate-limit service, a second gRPC call per request, as
// before one call.
//
//	go test ./e2e -run '^$' -bench 'BenchmarkGateway(TwoCalls)?$' -benchtime 1x
func BenchmarkGatewayTwoCalls(b *testing.B) {
	g := startGatewayBenchWith(b, gatewayBenchPolicy+"limit_calls: { one_call: false }\n")
	for range b.N {
		capacity := g.closedLoop(b)
		g.openLoop(b, min(capacity/2, gatewayMaxRate))
	}
}

// oneCallRounds and oneCallRate bound BenchmarkOneCallVsTwoCalls: each
// round is gatewayRoundTime per route and gateway.
const (
	oneCallRounds = 4
	// oneCallRate is the open loop's rate, fixed and low enough for a
	// loaded 2-core machine to stay under capacity with both gateways.
	oneCallRate = 300
)

// BenchmarkOneCallVsTwoCalls runs two gateways at once, the benchmark's
// policy with one call and without, and alternates closed-loop rounds of
// the plain and protected routes over both, so that the machine's load
// drifts onto every figure alike. It reports each gateway's
// protected/plain throughput ratio, the one-call/two-call ratio of the
// protected route's throughput, and the p50/p99 the protected route adds
// to the plain one at oneCallRate, open loop. Unlike BenchmarkGateway, a
// 503 (an ext_authz call past its timeout on an overloaded machine) is
// counted, not fatal: success_* reports the share answered 200.
//
//	go test ./e2e -run '^$' -bench BenchmarkOneCallVsTwoCalls -benchtime 1x
func BenchmarkOneCallVsTwoCalls(b *testing.B) {
	one := startGatewayBenchWith(b, gatewayBenchPolicy)
	two := startGatewayBenchWith(b, gatewayBenchPolicy+"limit_calls: { one_call: false }\n")
	for range b.N {
		var oneRatio, twoRatio, protRatio, add50One, add99One, add50Two, add99Two []float64
		okOne, okTwo := 1.0, 1.0
		for i := range oneCallRounds {
			closed := vegeta.Rate{}
			plOne, prOne, plTwo, prTwo := rounds(b, i, closed, one, two)
			oneRatio = append(oneRatio, prOne.Throughput/plOne.Throughput)
			twoRatio = append(twoRatio, prTwo.Throughput/plTwo.Throughput)
			protRatio = append(protRatio, prOne.Throughput/prTwo.Throughput)
			okOne, okTwo = min(okOne, prOne.Success), min(okTwo, prTwo.Success)
			open := vegeta.Rate{Freq: oneCallRate, Per: time.Second}
			plOne, prOne, plTwo, prTwo = rounds(b, i, open, one, two)
			add50One = append(add50One, ms(prOne.Latencies.P50-plOne.Latencies.P50))
			add99One = append(add99One, ms(prOne.Latencies.P99-plOne.Latencies.P99))
			add50Two = append(add50Two, ms(prTwo.Latencies.P50-plTwo.Latencies.P50))
			add99Two = append(add99Two, ms(prTwo.Latencies.P99-plTwo.Latencies.P99))
		}
		b.ReportMetric(median(oneRatio), "one_call_ratio")
		b.ReportMetric(median(twoRatio), "two_calls_ratio")
		b.ReportMetric(median(protRatio), "protected_one/two")
		b.ReportMetric(median(add50One), "one_call_added_p50_ms")
		b.ReportMetric(median(add99One), "one_call_added_p99_ms")
		b.ReportMetric(median(add50Two), "two_calls_added_p50_ms")
		b.ReportMetric(median(add99Two), "two_calls_added_p99_ms")
		b.ReportMetric(okOne, "success_one_call")
		b.ReportMetric(okTwo, "success_two_calls")
	}
}

// rounds runs one round of each route of each gateway, in an order that
// alternates with the round's parity.
func rounds(b *testing.B, round int, rate vegeta.Rate, one, two *gatewayBench) (plOne, prOne, plTwo, prTwo *vegeta.Metrics) {
	run := func(t vegeta.Target) *vegeta.Metrics { return tolerantAttack(b, t, rate, gatewayRoundTime) }
	if round%2 == 0 {
		plOne, prOne, plTwo, prTwo = run(one.plain), run(one.protected), run(two.plain), run(two.protected)
	} else {
		prTwo, plTwo, prOne, plOne = run(two.protected), run(two.plain), run(one.protected), run(one.plain)
	}
	return plOne, prOne, plTwo, prTwo
}

// tolerantAttack is gatewayBench.attack without failing on a non-200,
// which the caller reports; it fails only if most requests failed.
func tolerantAttack(b *testing.B, target vegeta.Target, rate vegeta.Rate, d time.Duration) *vegeta.Metrics {
	opts := []func(*vegeta.Attacker){vegeta.KeepAlive(true), vegeta.Timeout(10 * time.Second)}
	if rate.Freq == 0 {
		opts = append(opts, vegeta.Workers(gatewayWorkers), vegeta.MaxWorkers(gatewayWorkers), vegeta.Connections(gatewayWorkers))
	}
	var m vegeta.Metrics
	for res := range vegeta.NewAttacker(opts...).Attack(vegeta.NewStaticTargeter(target), rate, d, target.URL) {
		m.Add(res)
	}
	m.Close()
	if m.Success < 0.5 {
		b.Fatalf("%s: success ratio %.4f, status codes %v, errors %v", target.URL, m.Success, m.StatusCodes, firstErrors(m.Errors))
	}
	return &m
}
