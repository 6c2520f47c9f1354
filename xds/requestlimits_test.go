package xds

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// inputsPolicy has a listener and a route with client_ips and
// request_limits; each case edits one of them.
const inputsPolicy = `listeners:
  - { name: l, port: 8080, client_ips: { deny: [203.0.113.0/24] }, request_limits: { max_body: 1MiB, max_headers: 16KiB } }
services: { s: { endpoints: ["127.0.0.1:9001"] } }
routes:
  - { name: r, to: s, client_ips: { allow: [10.0.0.0/8] }, request_limits: { max_body: 4KiB, methods: [GET], content_types: [application/json] } }
`

// Editing client_ips or request_limits changes the route configuration
// only, never the listener Envoy would drain; max_headers, read before
// any route, is the one listener setting.
func TestInputEditsChangeRoutesOnly(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		changed        []string
	}{
		{"a listener's client_ips", "deny: [203.0.113.0/24]", "deny: [203.0.113.0/25]", []string{resourcev3.RouteType}},
		{"a route's client_ips", "allow: [10.0.0.0/8]", "allow: [10.0.0.0/9]", []string{resourcev3.RouteType}},
		{"a listener's max_body", "max_body: 1MiB", "max_body: 2MiB", []string{resourcev3.RouteType}},
		{"a route's max_body", "max_body: 4KiB", "max_body: 8KiB", []string{resourcev3.RouteType}},
		{"a route's methods", "methods: [GET]", "methods: [GET, POST]", []string{resourcev3.RouteType}},
		{"a route's content types", "[application/json]", "[text/*]", []string{resourcev3.RouteType}},
		{"a listener's max_headers", "max_headers: 16KiB", "max_headers: 32KiB", []string{resourcev3.ListenerType}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := Snapshot(policytest.Load(t, inputsPolicy), "default", Options{})
			if err != nil {
				t.Fatal(err)
			}
			after, err := Snapshot(policytest.Load(t, strings.Replace(inputsPolicy, tc.from, tc.to, 1)), "default", Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range servedTypes {
				want := slices.Contains(tc.changed, typ)
				if got := before.GetVersion(typ) != after.GetVersion(typ); got != want {
					t.Errorf("%s: version changed = %v, want %v", typ, got, want)
				}
			}
		})
	}
}

// An invalid route after a route's refusal routes is reported at its own
// policy route: Envoy's routes are no longer one per policy route, so the
// position comes from the route's name, not its index.
func TestInvalidRouteAfterRefusalRoutesHasItsPosition(t *testing.T) {
	p, err := policy.Load(filepath.Join("testdata", "request_limits", "policy"))
	if err != nil {
		t.Fatal(err)
	}
	breakResources(t, func(r *Resources) {
		for _, route := range r.Routes[0].VirtualHosts[0].Routes {
			if route.GetName() == "orders" && route.GetRoute() != nil {
				route.Match = nil
			}
		}
	})
	_, err = Translate(p, DefaultGroup, Options{})
	if err == nil || !strings.Contains(err.Error(), `gateway.yaml:23:5: routes.orders: route configuration "api" is not valid`) {
		t.Errorf("got %v, want the error at routes.orders", err)
	}
}
