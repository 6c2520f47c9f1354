package e2e

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// corsPolicy allows two origins (one a pattern) on the listener, on a
// key-protected route under a before_auth limit of 3; the widget route's
// own cors allows any origin without credentials.
const corsPolicy = `
listeners:
  - name: public
    address: 127.0.0.1
    port: {{PORT}}
    cors:
      allow_origins: [https://app.example.com, "https://*.partner.test"]
      allow_methods: [GET, POST]
      allow_headers: [content-type, x-api-key]
      expose_headers: [x-demo-service]
      allow_credentials: true
      max_age: 10m
services:
  api: { endpoints: [UPSTREAM] }
auth:
  api_keys: { file: keys/keys.yaml }
rate_limits:
  guard: { stage: before_auth, key: [client_ip], fixed_window: { limit: 3, window: 1h } }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [guard] }
  - name: widget
    match: { path_prefix: /widget, methods: [GET, OPTIONS] }
    to: api
    auth: { public: true }
    cors: { allow_origins: ["*"], allow_methods: [GET] }
`

// TestCORSPreflightsAnsweredByEnvoy sends browsers' requests through a
// real Envoy: preflights are answered with the policy's Access-Control-*
// headers without reaching the service (it counts OPTIONS requests),
// Tollgate's authorization (no 401, no decision) or the before_auth limit
// (the 3 it allows are all still there afterwards); a disallowed origin
// gets no Access-Control-Allow-Origin; actual requests of allowed origins
// get it, refusals included.
func TestCORSPreflightsAnsweredByEnvoy(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "alice"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var options atomic.Int64
	api := upstream(t, "api", 1, func(_ int, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions {
				options.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})[0]
	g := startAuthGateway(t, strings.ReplaceAll(corsPolicy, "UPSTREAM", api), "", "", kf, "/health")
	decisions := authzDecisions(t, g.tollgate)

	preflight := func(path, origin string) *http.Response {
		resp, _ := mustRoundTrip(t, "OPTIONS", g.base+path, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key",
		}, "")
		return resp
	}
	t.Run("allowed origins", func(t *testing.T) {
		for _, origin := range []string{"https://app.example.com", "https://shop.partner.test", "https://app.example.com", "https://a.b.partner.test", "https://app.example.com"} {
			resp := preflight("/orders", origin)
			if resp.StatusCode != 200 {
				t.Fatalf("preflight from %s: status %d", origin, resp.StatusCode)
			}
			expectHeaders(t, "client", flatten(resp.Header), map[string]string{
				"access-control-allow-origin":      origin,
				"access-control-allow-credentials": "true",
				"access-control-allow-methods":     "GET, POST",
				"access-control-allow-headers":     "content-type, x-api-key",
				"access-control-max-age":           "600",
			})
		}
	})
	t.Run("disallowed origins", func(t *testing.T) {
		for _, origin := range []string{"https://evil.test", "https://app.example.com.evil.test", "http://app.example.com"} {
			resp := preflight("/orders", origin)
			if v := resp.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("preflight from %s allowed: %q (status %d)", origin, v, resp.StatusCode)
			}
		}
	})
	t.Run("a route's own cors", func(t *testing.T) {
		resp := preflight("/widget", "https://evil.test")
		expectHeaders(t, "client", flatten(resp.Header), map[string]string{
			"access-control-allow-origin":  "https://evil.test",
			"access-control-allow-methods": "GET",
			// Not the listener's: the route's cors replaces it whole.
			"access-control-allow-credentials": "",
			"access-control-max-age":           "",
		})
	})
	if n := options.Load(); n != 0 {
		t.Errorf("%d preflights reached the service", n)
	}
	if n := authzDecisions(t, g.tollgate) - decisions; n != 0 {
		t.Errorf("authz decided %d preflights", n)
	}

	t.Run("actual requests", func(t *testing.T) {
		origin := map[string]string{"Origin": "https://app.example.com"}
		withKey := map[string]string{"Origin": "https://app.example.com", "X-API-Key": key}
		// The before_auth limit of 3 was not spent by the 9 preflights:
		// a request without a key, then two with one, are its 3.
		resp, _ := get(t, g.base+"/orders", origin)
		if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != origin["Origin"] {
			t.Errorf("without a key: status %d, Access-Control-Allow-Origin %q; want 401 a page can read", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if got := statuses(t, g.base+"/orders", 2, withKey); got != "200,200" {
			t.Fatalf("after the preflights: %s, want the limit's last 2 requests admitted", got)
		}
		resp, _ = get(t, g.base+"/orders", withKey)
		if resp.StatusCode != 429 || resp.Header.Get("Access-Control-Allow-Origin") != origin["Origin"] {
			t.Fatalf("the 4th request: status %d, Access-Control-Allow-Origin %q; want 429 (the limit counts actual requests) a page can read", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		resp, _ = get(t, g.base+"/health", origin)
		expectHeaders(t, "client", flatten(resp.Header), map[string]string{
			"access-control-allow-origin":      "https://app.example.com",
			"access-control-allow-credentials": "true",
			"access-control-expose-headers":    "x-demo-service",
		})
		resp, _ = get(t, g.base+"/health", map[string]string{"Origin": "https://evil.test"})
		if v := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != 200 || v != "" {
			t.Errorf("a disallowed origin's request: status %d, Access-Control-Allow-Origin %q", resp.StatusCode, v)
		}
		// Answers depend on the Origin: a shared cache must not give one
		// origin's answer to another.
		if v := strings.ToLower(strings.Join(resp.Header.Values("Vary"), ", ")); !strings.Contains(v, "origin") {
			t.Errorf("Vary: %q, want Origin in it", v)
		}
	})
}
