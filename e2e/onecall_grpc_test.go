package e2e

import (
	"fmt"
	"testing"
)

// TestGRPCClientsOverALimitOfAOneCallRoute: on a protected route, whose
// limits the ext_authz call decides, a refused gRPC call still ends with
// RESOURCE_EXHAUSTED, as the rate-limit filter's refusal does
// (TestGRPCClientsOverALimitGetResourceExhausted), not with the
// UNAVAILABLE Envoy maps a 429 to, which gRPC clients retry at once.
func TestGRPCClientsOverALimitOfAOneCallRoute(t *testing.T) {
	t.Parallel()
	addr, _ := grpcUpstream(t)
	web := upstream(t, "web", 1, nil)[0]
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  orders-grpc: { endpoints: [%s], protocol: grpc }
  web: { endpoints: [%s] }
routes:
  - name: grpc
    match: { path_prefix: /grpc.health.v1.Health/ }
    to: orders-grpc
    auth: { accept: [anonymous] }
    rate_limits: [one]
  - { name: web, to: web }
rate_limits:
  one: { key: [route], fixed_window: { limit: 1, window: 1h } }
`, addr, web),
	}, false, "/", "web")
	wantSecondGRPCCallExhausted(t, g.base)
	if got := stat(t, g.envoy, "cluster.tollgate_ratelimit.upstream_rq_total"); got != "" && got != "0" {
		t.Errorf("the route's limits were not decided in the ext_authz call: %s rate-limit calls", got)
	}
}
