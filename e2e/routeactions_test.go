package e2e

import (
	"cmp"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/demoservice"
)

// routeActionsPolicy rewrites, redirects and answers; every route is
// public except one direct response, which shows that authentication
// runs before Envoy answers.
const routeActionsPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM_API] }
  named: { endpoints: ["localhost:NAMED_PORT"] }
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - name: prefix
    match: { path_prefix: /api/v2/ }
    to: api
    rewrite: { path_prefix: / }
    auth: { public: true }
  - name: regex
    match: { path_regex: "^/items/([0-9]+)/(\\w+)$" }
    to: api
    rewrite: { path_regex: { pattern: "^/items/([0-9]+)/(\\w+)$", substitution: '/catalog/\2/\1' } }
    auth: { public: true }
  - { name: host, match: { path_prefix: /host }, to: api, rewrite: { host: orders.internal }, auth: { public: true } }
  - { name: auto-host, match: { path_prefix: /auto }, to: named, rewrite: { auto_host: true }, auth: { public: true } }
  - { name: as-sent, match: { path_prefix: /as-sent }, to: api, auth: { public: true } }
  - name: docs
    match: { path_prefix: /docs }
    redirect: { status: 301, scheme: https, host: docs.example.com, port: 8443, path_prefix: /manual, strip_query: true }
    auth: { public: true }
  - { name: login, match: { path: /login }, redirect: { path: /auth/login }, auth: { public: true } }
  - { name: form, match: { path: /form }, redirect: { status: 303, path: /done }, auth: { public: true } }
  - { name: moved, match: { path_prefix: /moved }, redirect: { status: 307, host: new.example.com }, auth: { public: true } }
  - { name: secure, match: { path_prefix: /secure }, redirect: { scheme: https }, auth: { public: true } }
  - { name: members, match: { path: /members }, redirect: { path: /members/home }, auth: { accept: [api_key] } }
  - name: legacy
    match: { path_regex: "^/legacy/(.*)$" }
    redirect: { status: 308, path_regex: { pattern: "^/legacy/(.*)$", substitution: '/v3/\1' } }
    auth: { public: true }
  - name: v1-retired
    match: { path_prefix: /api/v1 }
    respond: { status: 410, body: '{"error":"v1 is retired, use /api/v3"}', content_type: application/json }
    deprecation: { since: "2025-01-01T00:00:00Z", sunset: 2026-01-01 }
    auth: { public: true }
  - { name: maintenance, match: { path_prefix: /reports }, respond: { status: 503, body: "Back at 14:00 UTC (100% sure)" }, auth: { public: true } }
  - { name: empty, match: { path: /ping-old }, respond: { status: 204 }, auth: { public: true } }
  - { name: notice, match: { path: /notice }, respond: { status: 200, body: members only }, auth: { accept: [api_key] } }
  - name: v2
    match: { path_prefix: /v2 }
    to: api
    deprecation: { since: 2026-01-01, sunset: "2026-06-30T12:00:00Z", link: "https://docs.example.com/v2" }
    auth: { public: true }
`

// startRouteActionsGateway serves routeActionsPolicy and returns the
// gateway and an API key.
func startRouteActionsGateway(t *testing.T) (*authGateway, string) {
	t.Helper()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "member"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	named := upstream(t, "named", 1, nil)[0]
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "NAMED_PORT", portOf(named)).Replace(routeActionsPolicy)
	return startAuthGateway(t, policy, "", "", kf, "/health"), key
}

func TestRewritesThroughEnvoy(t *testing.T) {
	t.Parallel()
	g, _ := startRouteActionsGateway(t)
	host := strings.TrimPrefix(g.base, "http://")
	cases := []struct {
		path, wantPath, wantQuery, wantHost string
	}{
		{"/api/v2/orders/7?x=1", "/orders/7", "x=1", host},
		{"/items/42/reviews?page=2", "/catalog/reviews/42", "page=2", host},
		{"/host/a", "/host/a", "", "orders.internal"},
		{"/auto/a", "/auto/a", "", "localhost"},
		{"/as-sent/a", "/as-sent/a", "", host},
	}
	for _, tc := range cases {
		resp, body := mustRoundTrip(t, "GET", g.base+tc.path, nil, "")
		var r demoservice.Reply
		if err := json.Unmarshal(body, &r); resp.StatusCode != 200 || err != nil {
			t.Errorf("GET %s: %d %s", tc.path, resp.StatusCode, body)
			continue
		}
		if r.Path != tc.wantPath || r.Query != tc.wantQuery || r.Headers["host"] != tc.wantHost {
			t.Errorf("GET %s: the service saw path %q query %q host %q, want %q %q %q",
				tc.path, r.Path, r.Query, r.Headers["host"], tc.wantPath, tc.wantQuery, tc.wantHost)
		}
		// tollgate check says what the service receives.
		got := r.Path
		if r.Query != "" {
			got += "?" + r.Query
		}
		if c := checkActionsOf(t, g, "GET", tc.path, host); c.Route.ServicePath != "" && c.Route.ServicePath != got {
			t.Errorf("GET %s: tollgate check says the service receives %s, it received %s", tc.path, c.Route.ServicePath, got)
		}
	}
}

func TestRedirectsThroughEnvoy(t *testing.T) {
	t.Parallel()
	g, _ := startRouteActionsGateway(t)
	noFollow := &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	cases := []struct {
		method, path string
		host         string // "" for the gateway's address
		status       int
		location     string
	}{
		{"GET", "/docs/install?lang=en", "", 301, "https://docs.example.com:8443/manual/install"},
		{"GET", "/login?next=/home", "", 302, g.base + "/auth/login?next=/home"},
		{"POST", "/form", "", 303, g.base + "/done"},
		{"GET", "/moved/a?b=1", "", 307, "http://new.example.com/moved/a?b=1"},
		{"GET", "/legacy/orders/7", "", 308, g.base + "/v3/orders/7"},
		// To https, the default port of http goes; another port stays.
		{"GET", "/secure/a", "api.example.com:80", 302, "https://api.example.com/secure/a"},
		{"GET", "/secure/a", "api.example.com:8080", 302, "https://api.example.com:8080/secure/a"},
		// Authentication runs before Envoy redirects.
		{"GET", "/members", "", 401, ""},
	}
	for _, tc := range cases {
		host := cmp.Or(tc.host, strings.TrimPrefix(g.base, "http://"))
		req, err := newRequest(tc.method, g.base+tc.path, map[string]string{"Host": host}, "")
		if err != nil {
			t.Fatal(err)
		}
		resp, _, err := roundTrip(noFollow, req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode != tc.status || loc != tc.location {
			t.Errorf("%s %s: %d Location %q, want %d %q", tc.method, tc.path, resp.StatusCode, loc, tc.status, tc.location)
		}
		if c := checkActionsOf(t, g, tc.method, tc.path, host).Route.Redirect; tc.status != 401 && (c.Status != resp.StatusCode || c.Location != resp.Header.Get("Location")) {
			t.Errorf("%s %s: tollgate check says %d %s, Envoy answered %d %s", tc.method, tc.path, c.Status, c.Location, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestDirectResponsesThroughEnvoy(t *testing.T) {
	t.Parallel()
	g, key := startRouteActionsGateway(t)
	cases := []struct {
		path    string
		headers map[string]string
		status  int
		body    string
		want    map[string]string // response headers; "" means absent
	}{
		{"/api/v1/orders", nil, 410, `{"error":"v1 is retired, use /api/v3"}`, map[string]string{
			"Content-Type": "application/json", "Deprecation": "@1735689600", "Sunset": "Thu, 01 Jan 2026 00:00:00 GMT", "Link": "",
		}},
		{"/reports/daily", nil, 503, "Back at 14:00 UTC (100% sure)", map[string]string{"Content-Type": "text/plain; charset=utf-8", "Deprecation": ""}},
		{"/ping-old", nil, 204, "", map[string]string{"Content-Type": ""}},
		// Authentication runs before Envoy answers.
		{"/notice", nil, 401, "", nil},
		{"/notice", map[string]string{"X-API-Key": key}, 200, "members only", nil},
	}
	for _, tc := range cases {
		resp, body := mustRoundTrip(t, "GET", g.base+tc.path, tc.headers, "")
		if resp.StatusCode != tc.status || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		for name, want := range tc.want {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("GET %s: %s %q, want %q", tc.path, name, got, want)
			}
		}
	}

	// A deprecated route that still forwards: the service answers, and
	// the client is told when the version goes away.
	resp, body := mustRoundTrip(t, "GET", g.base+"/v2/orders", nil, "")
	var r demoservice.Reply
	if err := json.Unmarshal(body, &r); resp.StatusCode != 200 || err != nil || r.Service != "api" {
		t.Fatalf("GET /v2/orders: %d %s", resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Deprecation": "@1767225600",
		"Sunset":      "Tue, 30 Jun 2026 12:00:00 GMT",
		"Link":        `<https://docs.example.com/v2>; rel="deprecation"`,
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("GET /v2/orders: %s %q, want %q", name, got, want)
		}
	}
}

// checkActionsAnswer is the part of `tollgate check --json` about route
// actions.
type checkActionsAnswer struct {
	Route struct {
		ServicePath string `json:"service_path"`
		Redirect    struct {
			Status   int    `json:"status"`
			Location string `json:"location"`
		} `json:"redirect"`
	} `json:"route"`
}

// checkActionsOf asks the built binary about a request to the gateway.
func checkActionsOf(t *testing.T, g *authGateway, method, path, host string) checkActionsAnswer {
	t.Helper()
	args := []string{"check", "--json", "--policy", g.dir, method, path, "-H", "Host: " + host}
	out, err := exec.Command(tollgateBin, args...).Output()
	var res checkActionsAnswer
	if err == nil {
		err = json.Unmarshal(out, &res)
	}
	if err != nil {
		t.Fatalf("tollgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return res
}
