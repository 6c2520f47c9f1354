package xds

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/internal/policytest"
)

// TestRouteAuthAndLimitEditsLeaveListenersAlone translates two policies
// that differ only in their routes, their auth rules and their limits
// (the second protects a route, limits others before and after
// authentication, adds a JWT provider whose claims travel in headers, and
// adds a thousand routes) and checks the listeners
// are byte for byte the same, with the same snapshot version: Envoy then
// gets only new route configurations and never drains a listener for
// such an edit. Clusters stay the same too, Tollgate's own included.
func TestRouteAuthAndLimitEditsLeaveListenersAlone(t *testing.T) {
	const base = `
listeners:
  - { name: public, port: 8080 }
services:
  api: { endpoints: [127.0.0.1:9001] }
rate_limit_store: { redis: { address: 127.0.0.1:6379 }, on_failure: fail_closed }
`
	small := base + `
routes:
  - { name: open, match: { path_prefix: /open }, to: api }
`
	var large strings.Builder
	large.WriteString(base + `
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
  jwt:
    - issuer: https://idp.example.com
      jwks_uri: https://idp.example.com/jwks.json
      claims_to_headers: { sub: x-user-id }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], token_bucket: { rate: 10/s } }
  per-client: { key: [client_id], fixed_window: { limit: 5, window: 1s } }
routes:
  - { name: open, match: { path_prefix: /open }, to: api }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [per-ip, per-client] }
  - { name: limited, match: { path_prefix: /limited }, to: api, auth: { public: true }, rate_limits: [per-ip] }
`)
	for i := range 1000 {
		fmt.Fprintf(&large, "  - { name: r%d, match: { path: /r/%d }, to: api, auth: { accept: [api_key] }, rate_limits: [per-client] }\n", i, i)
	}
	a, b := policytest.Load(t, small), policytest.Load(t, large.String())
	for _, group := range []string{DefaultGroup, "edge"} {
		ra, err := Translate(a, group, Options{})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Translate(b, group, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range ra.Listeners {
			ba, _ := proto.MarshalOptions{Deterministic: true}.Marshal(ra.Listeners[i])
			bb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rb.Listeners[i])
			if !bytes.Equal(ba, bb) {
				t.Errorf("listener %s differs between the policies:\n%v\n%v", ra.Listeners[i].GetName(), ra.Listeners[i], rb.Listeners[i])
			}
		}
		sa, err := ra.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		sb, err := rb.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
			if sa.GetVersion(typ) != sb.GetVersion(typ) {
				t.Errorf("%s version changed: %s → %s", typ, sa.GetVersion(typ), sb.GetVersion(typ))
			}
		}
		if sa.GetVersion(resourcev3.RouteType) == sb.GetVersion(resourcev3.RouteType) {
			t.Error("route version did not change: the test compares equal policies")
		}
	}
}
