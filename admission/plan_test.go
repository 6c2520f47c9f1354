package admission

import (
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

const planPolicy = `
listeners: [{ name: public, port: 8080 }]
services: { api: { endpoints: ["127.0.0.1:9000"] } }
auth: { api_keys: { file: keys/keys.yaml, optional: true } }
routes:
  - { name: both, match: { path_prefix: /both }, to: api, auth: { accept: [api_key] }, rate_limits: [guard, per-client] }
  - { name: open, match: { path_prefix: /open }, to: api, auth: { public: true }, rate_limits: [per-client] }
  - { name: tenant, match: { path_prefix: /tenant }, to: api, auth: { accept: [api_key] }, rate_limits: [per-tenant] }
rate_limits:
  guard: { stage: before_auth, key: [client_ip], fixed_window: { limit: 5, window: 1m } }
  per-client: { key: [client_id], fixed_window: { limit: 5, window: 1m } }
  per-tenant: { key: ["header:x-tenant"], fixed_window: { limit: 5, window: 1m } }
`

// TestCompileKeepsOneCallRoutesByStage: only a route with an auth rule and
// limits none of which keys on a header is decided in the Check, its
// limits split by stage.
func TestCompileKeepsOneCallRoutesByStage(t *testing.T) {
	p := Compile(policytest.Load(t, planPolicy))
	if len(p.routes) != 1 || p.routes["both"] == nil {
		t.Fatalf("one-call routes: %v, want only both", p.routes)
	}
	if b, a := len(p.routes["both"].before), len(p.routes["both"].after); b != 1 || a != 1 {
		t.Errorf("both: %d before_auth and %d after_auth limits, want 1 and 1", b, a)
	}
}

// TestDescriptorReadsIdentityFromAuthentication: the identity entries come
// from what authentication established, never from a header the client
// sent, and an absent value leaves its entry out, as Envoy's
// skip_if_absent does.
func TestDescriptorReadsIdentityFromAuthentication(t *testing.T) {
	pol := policytest.Load(t, planPolicy)
	var route *policy.Route
	for _, r := range pol.Routes {
		if r.Name == "both" {
			route = r
		}
	}
	srcs := policy.LimitDescriptor(route, pol.RateLimits["per-client"])
	forged := map[string]string{policy.ClientIDHeader: "mallory", policy.AuthStateHeader: "api_key"}
	for _, tc := range []struct {
		name     string
		identity [][2]string
		want     string
	}{
		{"anonymous", nil, "[{limit per-client} {route both} {remote_address 192.0.2.1}]"},
		{"api key", [][2]string{{policy.AuthStateHeader, "api_key"}, {policy.ClientIDHeader, "alice"}},
			"[{limit per-client} {route both} {remote_address 192.0.2.1} {auth api_key} {client_id alice}]"},
	} {
		got := fmt.Sprint(descriptor(srcs, &lookup{clientIP: "192.0.2.1", identity: tc.identity, headers: forged}))
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
