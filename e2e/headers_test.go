package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// headersPolicy changes headers on the listener (every route) and on the
// orders route, whose changes apply after the listener's.
const headersPolicy = `
listeners:
  - name: public
    address: 127.0.0.1
    port: {{PORT}}
    headers:
      request:
        set: [{ name: x-gateway, value: "listener for ${client_ip}" }]
        remove: [x-debug]
      response:
        set: [{ name: x-served-by, value: "${route}" }]
        remove: [x-demo-instance]
services:
  api: { endpoints: [UPSTREAM] }
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - name: orders
    match: { path_prefix: /orders }
    to: api
    auth: { accept: [api_key] }
    headers:
      request:
        set:
          - { name: x-gateway, value: route }
          - { name: x-caller, value: "${identity.client_id} ${identity.auth} [${identity.scopes}]" }
          - { name: x-route, value: "${route} at 100%" }
        add: [{ name: x-tag, value: gateway }]
        remove: [x-drop]
      response:
        set: [{ name: cache-control, value: no-store }]
        add: [{ name: x-caller, value: "${identity.client_id}" }]
        remove: [x-demo-service]
  - name: anything
    to: api
    auth: { public: true }
    headers:
      request:
        set: [{ name: x-caller, value: "${identity.client_id}" }]
`

// TestHeaderChangesReachServiceAndClient sends requests through a real
// Envoy and reads what the demo service received and what the client got:
// each change of the listener and of the route, the route's winning over
// the listener's, and the placeholders filled in with the client's
// address, the route's name and the identity of an API key.
func TestHeaderChangesReachServiceAndClient(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "alice", Scopes: []string{"orders:read"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.ReplaceAll(headersPolicy, "UPSTREAM", upstream(t, "api", 1, nil)[0])
	g := startAuthGateway(t, policy, "", "", kf, "/health")
	sent := map[string]string{"X-Debug": "1", "X-Drop": "1", "X-Tag": "client", "X-Caller": "forged"}

	t.Run("route", func(t *testing.T) {
		headers := map[string]string{"X-API-Key": key}
		for k, v := range sent {
			headers[k] = v
		}
		resp, body := mustRoundTrip(t, "GET", g.base+"/orders/1", headers, "")
		r := decodeReply(t, resp.StatusCode, body)
		expectHeaders(t, "service", r.Headers, map[string]string{
			"x-gateway": "route", // the route's set, after the listener's
			"x-caller":  "alice api_key [orders:read]",
			"x-route":   "orders at 100%",
			"x-tag":     "client, gateway",
			"x-debug":   "", // the listener's removal
			"x-drop":    "",
			"x-api-key": "", // credentials still never reach the service
			// The gateway's own identity header is still its own.
			"x-tollgate-client-id": "alice",
		})
		expectHeaders(t, "client", flatten(resp.Header), map[string]string{
			"cache-control":   "no-store",
			"x-caller":        "alice",
			"x-served-by":     "orders",
			"x-demo-service":  "",
			"x-demo-instance": "",
		})
	})

	t.Run("refusal", func(t *testing.T) {
		// The gateway's own answers on a route get its response changes.
		resp, _ := mustRoundTrip(t, "GET", g.base+"/orders/1", nil, "")
		if resp.StatusCode != 401 {
			t.Fatalf("without a key: status %d", resp.StatusCode)
		}
		expectHeaders(t, "client", flatten(resp.Header), map[string]string{
			"cache-control": "no-store",
			"x-served-by":   "orders",
			"x-caller":      "", // no identity
		})
	})

	t.Run("listener only, anonymous", func(t *testing.T) {
		resp, body := mustRoundTrip(t, "GET", g.base+"/other", sent, "")
		r := decodeReply(t, resp.StatusCode, body)
		expectHeaders(t, "service", r.Headers, map[string]string{
			"x-gateway": "listener for 127.0.0.1",
			"x-debug":   "",
			"x-drop":    "1", // only the orders route removes it
			"x-tag":     "client",
			// An anonymous caller has no identity: the header is left
			// out, and the client's own value was replaced (set) first.
			"x-caller": "",
		})
		expectHeaders(t, "client", flatten(resp.Header), map[string]string{
			"x-served-by":     "anything",
			"x-demo-service":  "api",
			"x-demo-instance": "",
		})
	})
}

// decodeReply reads the demo service's answer, failing the test on any
// other status.
func decodeReply(t *testing.T, status int, body []byte) reply {
	t.Helper()
	var r reply
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return r
}

// flatten is a response's headers as the demo service reports a
// request's: lower-case names, several values joined by ", ".
func flatten(h http.Header) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

// expectHeaders checks headers against want, where "" means absent.
func expectHeaders(t *testing.T, who string, got, want map[string]string) {
	t.Helper()
	for name, w := range want {
		v, ok := got[name]
		switch {
		case w == "" && ok:
			t.Errorf("the %s received %s: %q, want none", who, name, v)
		case w != "" && v != w:
			t.Errorf("the %s received %s: %q, want %q", who, name, v, w)
		}
	}
}
