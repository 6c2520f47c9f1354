package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// A client on loopback (which Envoys before the explicit internal address
// config counted as internal, like RFC 1918 peers) is as external as any
// other: Tollgate sets no internal_address_config, so no peer is internal: Envoy ignores and removes its x-envoy-* headers,
// replaces its x-request-id and keys client_ip on the connection's peer,
// not on the X-Forwarded-For it sends.
func TestEdgeTreatsLoopbackClientsAsExternal(t *testing.T) {
	t.Parallel()
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

// Headers through which a proxy tells a service where a request came
// from, how it was addressed or which trace it belongs to are the
// gateway's to set: a client's forged value never reaches the service as
// sent. The address headers carry the peer alone; the others are removed.
// A client's W3C traceparent keeps its trace id (the gateway joins the
// client's trace, as W3C participants do).
func TestForgedClientHeadersNeverReachAService(t *testing.T) {
	t.Parallel()
	cdn := freeAddr(t)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "api") + "routes:\n  - { name: api, to: api }\n",
		// A listener only a CDN reaches keeps the headers the CDN sets.
		"cdn.yaml": fmt.Sprintf("listeners:\n  - { name: cdn, address: 127.0.0.1, port: %s, keep_client_headers: [CF-Connecting-IP, x-forwarded-host] }\n",
			cdn[strings.LastIndex(cdn, ":")+1:]),
	}, false, "/", "api")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	forged := map[string]string{
		"x-forwarded-for":           "6.6.6.6",
		"x-forwarded-host":          "admin.internal",
		"x-forwarded-port":          "443",
		"x-forwarded-prefix":        "/admin",
		"x-forwarded-proto":         "https",
		"x-forwarded-scheme":        "https",
		"x-forwarded-ssl":           "on",
		"x-forwarded-server":        "admin.internal",
		"x-forwarded-uri":           "/admin",
		"x-original-url":            "/admin",
		"x-rewrite-url":             "/admin",
		"x-original-uri":            "/admin",
		"x-http-method-override":    "DELETE",
		"x-method-override":         "DELETE",
		"x-envoy-peer-metadata":     "ChkKDkFQUF9DT05UQUlORVJTEgcaBWFkbWlu",
		"x-envoy-peer-metadata-id":  "sidecar~10.0.0.1~admin.default~default.svc.cluster.local",
		"x-envoy-external-address":  "6.6.6.6",
		"x-envoy-anything":          "forged",
		"x-b3-traceid":              "80f198ee56343ba864fe8b2a57d3eff7",
		"x-b3-spanid":               "e457b5a2e4d86bd1",
		"x-b3-parentspanid":         "05e3ac9a4f6e3b90",
		"x-b3-sampled":              "1",
		"x-b3-flags":                "1",
		"b3":                        "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
		"x-real-ip":                 "6.6.6.6",
		"client-ip":                 "6.6.6.6",
		"x-cluster-client-ip":       "6.6.6.6",
		"traceparent":               "00-" + traceID + "-00f067aa0ba902b7-01",
		"x-custom-application-data": "kept",
	}
	status, r := call("GET", g.base+"/x", forged)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for name, v := range forged {
		got, ok := r.Headers[name]
		switch name {
		case "x-forwarded-for", "x-real-ip", "x-envoy-external-address":
			if got != "127.0.0.1" {
				t.Errorf("%s = %q, want the peer 127.0.0.1 alone", name, got)
			}
		case "x-forwarded-proto":
			if got != "http" {
				t.Errorf("%s = %q, want http: the scheme the gateway accepted", name, got)
			}
		case "traceparent":
			if !strings.Contains(got, traceID) || got == v {
				t.Errorf("traceparent = %q, want the client's trace %s with the gateway's span", got, traceID)
			}
		case "x-custom-application-data":
			if got != v {
				t.Errorf("an application header was lost: %q", got)
			}
		default:
			if ok {
				t.Errorf("the service received the client's %s: %q", name, got)
			}
		}
	}

	waitService(t, "http://"+cdn+"/x", nil, "api")
	status, r = call("GET", "http://"+cdn+"/x", map[string]string{
		"cf-connecting-ip": "203.0.113.9", "x-forwarded-host": "api.example.com", "x-forwarded-port": "443", "x-forwarded-for": "6.6.6.6",
	})
	if status != 200 || r.Headers["cf-connecting-ip"] != "203.0.113.9" || r.Headers["x-forwarded-host"] != "api.example.com" {
		t.Errorf("keep_client_headers: status %d, headers %v, want cf-connecting-ip and x-forwarded-host kept", status, r.Headers)
	}
	if _, ok := r.Headers["x-forwarded-port"]; ok || r.Headers["x-forwarded-for"] != "127.0.0.1" {
		t.Errorf("keep_client_headers kept more than it lists: %v", r.Headers)
	}
}
