package e2e

import "testing"

// BenchmarkGatewayTwoCalls is BenchmarkGateway with limit_calls.one_call
// off: the protected route's limits go through Envoy's rate-limit filter
// and Tollgate's rate-limit service, a second gRPC call per request, as
// before one call. Run both in one go to compare:
//
//	go test ./e2e -run '^$' -bench 'BenchmarkGateway(TwoCalls)?$' -benchtime 1x
func BenchmarkGatewayTwoCalls(b *testing.B) {
	g := startGatewayBenchWith(b, gatewayBenchPolicy+"limit_calls: { one_call: false }\n")
	for range b.N {
		capacity := g.closedLoop(b)
		g.openLoop(b, min(capacity/2, gatewayMaxRate))
	}
}
