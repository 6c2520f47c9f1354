package e2e

import (
	"fmt"
	"testing"
)

// A client on loopback (which Envoys before the explicit internal address
// config counted as internal, like RFC 1918 peers) is as external as any
// other: Tollgate sets no internal_address_config, so no peer is internal: Envoy ignores and removes its x-envoy-* headers,
// replaces its x-request-id and keys client_ip on the connection's peer,
// not on the X-Forwarded-For it sends.
func TestEdgeTreatsLoopbackClientsAsExternal(t *testing.T) {
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "api") + `routes:
  - { name: api, to: api, rate_limits: [per-ip] }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], fixed_window: { limit: 8, window: 1h } }
`,
	}, false, "/", "api")
	// waitService spent at least one of the 8.

	t.Run("retry headers", func(t *testing.T) {
		// The first attempt fails; honoring x-envoy-retry-on would retry it.
		status, _ := call("GET", g.base+"/x?fail_attempts=1", map[string]string{
			"x-envoy-retry-on": "5xx", "x-envoy-max-retries": "3", "x-request-id": "retry-probe",
		})
		if status != 503 {
			t.Errorf("status %d, want 503: the client's x-envoy-retry-on was honored", status)
		}
	})
	t.Run("timeout headers", func(t *testing.T) {
		status, _ := call("GET", g.base+"/x?delay=200ms", map[string]string{
			"x-envoy-upstream-rq-timeout-ms": "1", "x-envoy-upstream-rq-per-try-timeout-ms": "1",
		})
		if status != 200 {
			t.Errorf("status %d, want 200: the client's x-envoy-upstream-rq-timeout-ms was honored", status)
		}
	})
	t.Run("headers reaching the service", func(t *testing.T) {
		status, r := call("GET", g.base+"/x", map[string]string{
			"x-envoy-internal":        "true",
			"x-envoy-original-path":   "/admin",
			"x-envoy-force-trace":     "true",
			"x-request-id":            "forged-request-id",
			"x-forwarded-for":         "203.0.113.7",
			"x-forwarded-client-cert": "By=spiffe://evil;Subject=\"CN=admin\"",
			"x-forwarded-proto":       "https",
			"x-real-ip":               "198.51.100.66",
			"forwarded":               "for=198.51.100.66",
			"true-client-ip":          "198.51.100.66",
		})
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		for _, name := range []string{"x-envoy-internal", "x-envoy-original-path", "x-envoy-force-trace", "x-forwarded-client-cert", "forwarded", "true-client-ip"} {
			if v, ok := r.Headers[name]; ok {
				t.Errorf("the service received the client's %s: %q", name, v)
			}
		}
		if r.Headers["x-request-id"] == "forged-request-id" {
			t.Error("the client's x-request-id reached the service")
		}
		if got := r.Headers["x-forwarded-proto"]; got != "http" {
			t.Errorf("x-forwarded-proto = %q over plain HTTP, want http", got)
		}
		if got := r.Headers["x-real-ip"]; got != "127.0.0.1" {
			t.Errorf("x-real-ip = %q, want the peer 127.0.0.1, set by the gateway", got)
		}
		if got := r.Headers["x-envoy-external-address"]; got != "127.0.0.1" {
			t.Errorf("x-envoy-external-address = %q, want the peer 127.0.0.1", got)
		}
	})
	t.Run("client_ip ignores X-Forwarded-For", func(t *testing.T) {
		refused := 0
		for i := range 10 {
			status, _, err := httpDo("GET", g.base+"/x", map[string]string{"x-forwarded-for": fmt.Sprintf("198.51.100.%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if status == 429 {
				refused++
			}
		}
		if refused == 0 {
			t.Error("10 requests with 10 forged X-Forwarded-For addresses were never refused by a limit of 8 per client_ip")
		}
	})
}
