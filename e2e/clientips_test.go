package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// clientIPsPolicy: a route only 127.0.0.2 may call, one 127.0.0.3 may
// not, one that needs an API key and is only for 127.0.0.2, and a
// listener behind one trusted hop that denies 127.0.0.13 on every route.
const clientIPsPolicy = `listeners:
  - { name: direct, address: 127.0.0.1, port: {{PORT}} }
  - { name: hops, address: 127.0.0.1, port: {{HOPS}}, client_address: { trusted_hops: 1 }, client_ips: { deny: [127.0.0.13] } }
  - { name: cidrs, address: 127.0.0.1, port: {{CIDRS}}, client_address: { trusted_cidrs: [127.0.0.1] } }
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
routes:
  - { name: probe, match: { path_prefix: /probe }, to: api, auth: { public: true } }
  - { name: admin, match: { path_prefix: /admin }, to: api, auth: { public: true }, client_ips: { allow: [127.0.0.2/32] } }
  - { name: open, match: { path_prefix: /open }, to: api, auth: { public: true }, client_ips: { deny: [127.0.0.3] } }
  - { name: private, match: { path_prefix: /private }, to: api, auth: { accept: [api_key] }, client_ips: { allow: [127.0.0.2] } }
  - { name: once, match: { path_prefix: /once }, to: api, auth: { public: true }, rate_limits: [once], client_ips: { allow: [127.0.0.2] } }
rate_limits:
  once: { stage: before_auth, key: [route], fixed_window: { limit: 1, window: 1h } }
`

// clientIPsYAML is clientIPsPolicy with its listeners' addresses and a
// demo service.
func clientIPsYAML(t *testing.T, hops, cidrs string) string {
	return strings.NewReplacer("{{HOPS}}", port(hops), "{{CIDRS}}", port(cidrs)).Replace(clientIPsPolicy) + servicesYAML(t, "api")
}

// getRefusal sends GET url from c and returns the status and the JSON
// error body of a refusal (nil for a 200).
func getRefusal(t *testing.T, c *http.Client, url string, headers map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := newRequest("GET", url, headers, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, body, err := roundTrip(c, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, refusalBody(t, resp, body)
}

// refusalBody decodes the JSON body of a refusal, failing the test when a
// non-200 answer is not Tollgate's JSON error.
func refusalBody(t *testing.T, resp *http.Response, body []byte) map[string]any {
	t.Helper()
	if resp.StatusCode == 200 {
		return nil
	}
	var e map[string]any
	if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%d with content type %q, body %q: want application/json", resp.StatusCode, ct, body)
	} else if err := json.Unmarshal(body, &e); err != nil || e["error"] == nil || e["message"] == nil {
		t.Errorf("%d with body %q: want a JSON error with error and message", resp.StatusCode, body)
	} else if e["request_id"] == nil {
		t.Errorf("%d with body %q: want the request_id", resp.StatusCode, body)
	}
	return e
}

// A route allowed only from one address refuses other loopback sources
// with 403 and a JSON body, before authentication and before limits,
// which do not count the refusals; a deny list refuses
// the addresses it names; an X-Forwarded-For a client writes changes
// nothing on a listener that trusts no proxy.
func TestClientIPsAllowAndDeny(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{"gateway.yaml": clientIPsYAML(t, freeAddr(t), freeAddr(t))}, false, "/probe", "api")
	c1, c2, c3 := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")

	for _, tc := range []struct {
		name    string
		c       *http.Client
		path    string
		headers map[string]string
		want    int
		code    string
	}{
		{"allowed address", c2, "/admin", nil, 200, ""},
		{"another loopback address", c3, "/admin", nil, 403, "forbidden_address"},
		{"the gateway's own address", c1, "/admin", nil, 403, "forbidden_address"},
		{"a forged X-Forwarded-For", c3, "/admin", map[string]string{"x-forwarded-for": "127.0.0.2"}, 403, "forbidden_address"},
		{"denied address", c3, "/open", nil, 403, "forbidden_address"},
		{"address not denied", c2, "/open", nil, 200, ""},
		{"refused before authentication", c3, "/private", nil, 403, "forbidden_address"},
		{"allowed, then authentication", c2, "/private", nil, 401, "unauthorized"},
		// The route's one request a window is not spent by refused
		// addresses: the allowed one still gets it, then 429.
		{"refused before limits", c3, "/once", nil, 403, "forbidden_address"},
		{"refused before limits again", c1, "/once", nil, 403, "forbidden_address"},
		{"the route's one request", c2, "/once", nil, 200, ""},
		{"the limit is on", c2, "/once", nil, 429, "rate_limited"},
	} {
		status, e := getRefusal(t, tc.c, g.base+tc.path, tc.headers)
		if status != tc.want || (tc.code != "" && e["error"] != tc.code) {
			t.Errorf("%s: GET %s: %d %v, want %d %s", tc.name, tc.path, status, e, tc.want, tc.code)
		}
	}
}

// Behind a trusted hop, or trusted proxies, the resolved client address
// is what the lists see: the balancer's own address (127.0.0.1) is not, and an
// X-Forwarded-For the client writes cannot choose it. The listener's
// deny list applies to every route.
func TestClientIPsUseTheResolvedAddress(t *testing.T) {
	t.Parallel()
	hops, cidrs := freeAddr(t), freeAddr(t)
	startGateway(t, map[string]string{"gateway.yaml": clientIPsYAML(t, hops, cidrs)}, false, "/probe", "api")
	lb := loadBalancer(t, hops)
	waitService(t, lb+"/probe", nil, "api")

	for _, tc := range []struct {
		name, from, path, xff string
		want                  int
	}{
		{"allowed client behind the balancer", "127.0.0.2", "/admin", "", 200},
		{"another client behind the balancer", "127.0.0.3", "/admin", "", 403},
		{"a client naming the allowed address", "127.0.0.3", "/admin", "127.0.0.2", 403},
		{"a client denied by the listener", "127.0.0.13", "/probe", "", 403},
		{"the same client naming another address", "127.0.0.13", "/probe", "127.0.0.14", 403},
		{"a client the listener does not deny", "127.0.0.14", "/probe", "", 200},
		{"the listener's list and the route's together", "127.0.0.13", "/open", "", 403},
	} {
		headers := map[string]string{}
		if tc.xff != "" {
			headers["x-forwarded-for"] = tc.xff
		}
		status, e := getRefusal(t, clientFrom(t, tc.from), lb+tc.path, headers)
		if status != tc.want || (tc.want == 403 && e["error"] != "forbidden_address") {
			t.Errorf("%s: GET %s from %s: %d %v, want %d", tc.name, tc.path, tc.from, status, e, tc.want)
		}
	}

	// With trusted CIDRs, X-Forwarded-For counts only from a trusted
	// proxy (127.0.0.1 here), right of what the client wrote.
	lb = loadBalancer(t, cidrs)
	waitService(t, lb+"/probe", nil, "api")
	for _, tc := range []struct {
		name, from, url, xff string
		want                 int
	}{
		{"allowed client behind the proxy", "127.0.0.2", lb, "", 200},
		{"another client naming the allowed one", "127.0.0.3", lb, "127.0.0.2", 403},
		{"a client reaching the listener directly", "127.0.0.3", "http://" + cidrs, "127.0.0.2", 403},
		{"the trusted proxy naming the client", "127.0.0.1", "http://" + cidrs, "127.0.0.2", 200},
	} {
		headers := map[string]string{}
		if tc.xff != "" {
			headers["x-forwarded-for"] = tc.xff
		}
		if status, e := getRefusal(t, clientFrom(t, tc.from), tc.url+"/admin", headers); status != tc.want {
			t.Errorf("%s: GET /admin from %s: %d %v, want %d", tc.name, tc.from, status, e, tc.want)
		}
	}
}
