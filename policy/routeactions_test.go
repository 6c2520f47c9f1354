package policy

import (
	"slices"
	"testing"
)

const routeActionsBase = "listeners: [{ name: l, port: 1 }]\nservices:\n  a: { endpoints: [127.0.0.1:1] }\n  d: { endpoints: [\"a.internal:80\"] }\n  g: { endpoints: [127.0.0.1:2], protocol: grpc }\nroutes:\n"

// Each case is a broken upgrade, rewrite, redirect, direct response or
// deprecation and the errors it must produce, each as "line:col: text" in
// bad.yaml.
var invalidRouteActionCases = []struct {
	name   string
	routes string
	want   []string
}{
	{"cors on a redirect", "  - { name: r, redirect: { scheme: https }, cors: { allow_origins: [\"https://a.example\"] } }\n", []string{
		`7:51: routes.r.cors: a route with redirect answers itself and sends nothing to a service: remove cors (or redirect)`,
	}},
	{"mirror or fault on a direct response", "  - { name: r, respond: { status: 503 }, mirror: { service: a }, fault: { abort: { status: 500 } } }\n", []string{
		`7:50: routes.r.mirror: a route with respond answers itself and sends nothing to a service: remove mirror (or respond)`,
		`7:73: routes.r.fault: a route with respond answers itself and sends nothing to a service: remove fault (or respond)`,
	}},
	{"unknown upgrade", "  - { name: r, to: a, upgrades: [websocket, h2c] }\n", []string{
		`7:33: routes.r.upgrades[1]: unknown upgrade "h2c"; expected one of: websocket`,
	}},
	{"upgrade to an HTTP/2 service", "  - { name: r, to: g, upgrades: [websocket] }\n", []string{
		`7:33: routes.r.upgrades: service "g" speaks grpc; upgrades reach services over HTTP/1.1 only (protocol: http1)`,
	}},
	{"bad regex rewrite", "  - { name: r, to: a, rewrite: { path_regex: { pattern: \"^/(a\", substitution: /b } } }\n", []string{
		`7:57: routes.r.rewrite.path_regex.pattern: invalid regular expression: missing closing )`,
	}},
	{"substitution beyond the captures", "  - { name: r, to: a, rewrite: { path_regex: { pattern: \"^/v1/(.*)$\", substitution: /v2/\\2 } } }\n", []string{
		`7:85: routes.r.rewrite.path_regex.substitution: "/v2/\\2" uses \2 but the pattern has 1 capture group(s)`,
	}},
	{"substitution with a stray backslash", "  - { name: r, to: a, rewrite: { path_regex: { pattern: \"^/(.*)$\", substitution: '/x\\n' } } }\n", []string{
		`7:82: routes.r.rewrite.path_regex.substitution: "/x\\n" has \n; use \0 to \9 for captures and \\ for a backslash`,
	}},
	{"prefix rewrite after a regex match", "  - { name: r, match: { path_regex: \"^/a$\" }, to: a, rewrite: { path_prefix: b } }\n", []string{
		`7:78: routes.r.rewrite.path_prefix: path_prefix replaces what match.path_prefix or match.path matched; with match.path_regex use path_regex`,
		`7:78: routes.r.rewrite.path_prefix: must start with /, got "b"`,
	}},
	{"two path rewrites and two hosts", "  - { name: r, to: d, rewrite: { path_prefix: /b, path_regex: { pattern: a }, host: x.example, auto_host: true } }\n", []string{
		`7:32: routes.r.rewrite: set at most one of path_prefix and path_regex`,
		`7:107: routes.r.rewrite.auto_host: set at most one of host and auto_host`,
	}},
	{"empty rewrite and bad host", "  - { name: r, to: a, rewrite: {} }\n  - { name: s, to: a, rewrite: { host: \"*.example.com\" } }\n", []string{
		`7:32: routes.r.rewrite: a rewrite needs one of path_prefix, path_regex, host or auto_host`,
		`8:40: routes.s.rewrite.host: "*.example.com" is not a host name (with an optional :port)`,
	}},
	{"auto host to IP endpoints", "  - { name: r, to: a, rewrite: { auto_host: true } }\n", []string{
		`7:45: routes.r.rewrite.auto_host: service "a" has only IP endpoints, so Envoy has no host name to send: write host: NAME instead`,
	}},
	{"both to and redirect", "  - { name: r, to: a, redirect: { scheme: https } }\n", []string{
		`7:20: routes.r.to: a route with redirect answers itself and sends nothing to a service: remove to (or redirect)`,
	}},
	{"redirect and respond, with forwarding settings", "  - name: r\n    redirect: { scheme: https }\n    respond: { status: 410 }\n    timeout: 1s\n    upgrades: [websocket]\n    rewrite: { host: a.example }\n    rate_limits: []\n", []string{
		`13:18: routes.r.rate_limits: Envoy applies no rate limits to a route with redirect: remove rate_limits`,
		`9:14: routes.r.respond: a route either redirects or responds: remove redirect or respond`,
		`10:14: routes.r.timeout: a route with redirect answers itself and sends nothing to a service: remove timeout (or redirect)`,
		`11:15: routes.r.upgrades: a route with redirect answers itself`,
		`12:14: routes.r.rewrite: a route with redirect answers itself`,
	}},
	{"bad redirect status and fields", "  - { name: r, redirect: { status: 200, scheme: ftp, host: \"a.example:80\", port: 0 } }\n", []string{
		`7:36: routes.r.redirect.status: a redirect's status is one of 301, 302, 303, 307, 308, got 200`,
		`7:49: routes.r.redirect.scheme: scheme is http or https, got "ftp"`,
		`7:60: routes.r.redirect.host: "a.example:80" is not a host name (write a port in port)`,
		`7:82: routes.r.redirect.port: port must be between 1 and 65535, got 0`,
	}},
	{"redirect to itself", "  - { name: r, redirect: { status: 301 } }\n", []string{
		`7:26: routes.r.redirect: a redirect to the same URL would loop`,
	}},
	{"redirect with two paths", "  - { name: r, redirect: { path: new, path_prefix: /x } }\n", []string{
		`7:26: routes.r.redirect: set at most one of path, path_prefix and path_regex`,
		`7:34: routes.r.redirect.path: must start with /, got "new"`,
	}},
	{"bad direct response", "  - { name: r, respond: { status: 700, content_type: json, body: ok } }\n  - { name: s, respond: { status: 204, content_type: text/plain } }\n", []string{
		`7:35: routes.r.respond.status: a response's status must be between 200 and 599, got 700`,
		`7:54: routes.r.respond.content_type: "json" is not a media type such as application/json`,
		`8:54: routes.s.respond.content_type: content_type describes the body; there is none`,
	}},
	{"direct response without a status", "  - { name: r, respond: { body: gone } }\n", []string{
		`7:25: routes.r.respond.status: a response's status must be between 200 and 599, got 0`,
	}},
	{"bad deprecation", "  - { name: r, to: a, deprecation: { since: 2026-13-01, sunset: tomorrow, link: /docs } }\n  - { name: s, to: a, deprecation: { link: \"https://x.example/d\" } }\n  - { name: t, to: a, deprecation: { since: 2026-06-01, sunset: 2026-01-01 } }\n", []string{
		`7:45: routes.r.deprecation.since: "2026-13-01" is not a date (2026-06-30) or an RFC 3339 time (2026-06-30T12:00:00Z)`,
		`7:65: routes.r.deprecation.sunset: "tomorrow" is not a date`,
		`7:81: routes.r.deprecation.link: "/docs" is not an absolute URL`,
		`8:36: routes.s.deprecation: a deprecation needs since (when it was deprecated), sunset (when it goes away), or both`,
		`9:65: routes.t.deprecation.sunset: sunset 2026-01-01 is before since 2026-06-01`,
	}},
}

func TestLoadRejectsBadRouteActionsWithPositions(t *testing.T) {
	for _, tc := range invalidRouteActionCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": routeActionsBase + tc.routes}), tc.want)
		})
	}
}

const validRouteActions = routeActionsBase + `  - name: ws
    match: { path_prefix: /ws }
    to: a
    upgrades: [websocket]
  - name: v2
    match: { path_prefix: /api/v2/ }
    to: d
    rewrite: { path_prefix: /, auto_host: true }
    deprecation: { since: 2026-01-01, sunset: "2026-06-30T12:00:00Z", link: "https://docs.example.com/v2" }
  - name: moved
    match: { path_prefix: /old }
    redirect: { path_prefix: /new }
  - name: gone
    match: { path_prefix: /v1 }
    respond: { status: 410, body: '{"error":"v1 is retired"}' }
  - name: empty
    match: { path: /empty }
    respond: { status: 204 }
`

func TestLoadRouteActionsAndDefaults(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"gateway.yaml": validRouteActions}))
	if err != nil {
		t.Fatal(err)
	}
	ws, v2, moved, gone, empty := p.Routes[0], p.Routes[1], p.Routes[2], p.Routes[3], p.Routes[4]
	if !ws.AllowsUpgrade(UpgradeWebSocket) || v2.AllowsUpgrade(UpgradeWebSocket) {
		t.Error("websocket: allowed on ws only")
	}
	if ws.AnswersItself() || !moved.AnswersItself() || !gone.AnswersItself() {
		t.Error("AnswersItself: moved and gone answer themselves, ws does not")
	}
	if moved.Redirect.Status != DefaultRedirectStatus || len(moved.To) != 0 {
		t.Errorf("redirect default status: got %d (to %v)", moved.Redirect.Status, moved.To)
	}
	if gone.Respond.ContentType != DefaultDirectResponseContentType || empty.Respond.ContentType != "" {
		t.Errorf("content type: %q with a body, %q without", gone.Respond.ContentType, empty.Respond.ContentType)
	}
	want := [][2]string{
		{"Deprecation", "@1767225600"},
		{"Sunset", "Tue, 30 Jun 2026 12:00:00 GMT"},
		{"Link", `<https://docs.example.com/v2>; rel="deprecation"`},
	}
	if got := v2.Deprecation.Headers(); !slices.Equal(got, want) {
		t.Errorf("deprecation headers:\n got %q\nwant %q", got, want)
	}
}

func TestCheckSubstitution(t *testing.T) {
	for _, tc := range []struct {
		sub      string
		captures int
		ok       bool
	}{
		{`/v2/\1`, 1, true},
		{`\0\\x`, 0, true},
		{`/\1`, 0, false},
		{`/x\`, 3, false},
		{`\a`, 3, false},
		{`plain`, 0, true},
	} {
		if got := checkSubstitution(tc.sub, tc.captures) == ""; got != tc.ok {
			t.Errorf("checkSubstitution(%q, %d) ok = %v, want %v", tc.sub, tc.captures, got, tc.ok)
		}
	}
}

// The Locations and paths a real Envoy gave in e2e/routeactions_test.go.
func TestRedirectLocationAndServicePath(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"gateway.yaml": routeActionsBase + `  - name: docs
    match: { path_prefix: /docs }
    redirect: { status: 301, scheme: https, host: docs.example.com, port: 8443, path_prefix: /manual, strip_query: true }
  - { name: login, match: { path: /login }, redirect: { path: /auth/login } }
  - { name: moved, match: { path_prefix: /moved }, redirect: { status: 307, host: new.example.com } }
  - { name: secure, match: { path_prefix: /secure }, redirect: { scheme: https } }
  - name: legacy
    match: { path_regex: "^/legacy/(.*)$" }
    redirect: { status: 308, path_regex: { pattern: "^/legacy/(.*)$", substitution: '/v3/\1' } }
  - { name: prefix, match: { path_prefix: /api/v2/ }, to: a, rewrite: { path_prefix: / } }
  - name: regex
    match: { path_regex: "^/items/([0-9]+)/(\\w+)$" }
    to: a
    rewrite: { path_regex: { pattern: "^/items/([0-9]+)/(\\w+)$", substitution: '/catalog/\2/\1$' } }
  - { name: host, match: { path_prefix: /host }, to: a, rewrite: { host: x.example } }
`}))
	if err != nil {
		t.Fatal(err)
	}
	route := func(name string) *Route {
		for _, r := range p.Routes {
			if r.Name == name {
				return r
			}
		}
		t.Fatalf("no route %s", name)
		return nil
	}
	for _, tc := range []struct{ route, host, target, want string }{
		{"docs", "127.0.0.1:8080", "/docs/install?lang=en", "https://docs.example.com:8443/manual/install"},
		{"login", "127.0.0.1:8080", "/login?next=/home", "http://127.0.0.1:8080/auth/login?next=/home"},
		{"moved", "127.0.0.1:8080", "/moved/a?b=1", "http://new.example.com/moved/a?b=1"},
		{"secure", "api.example.com:80", "/secure", "https://api.example.com/secure"},
		{"secure", "api.example.com:8080", "/secure", "https://api.example.com:8080/secure"},
		{"legacy", "127.0.0.1:8080", "/legacy/orders/7", "http://127.0.0.1:8080/v3/orders/7"},
	} {
		if got := route(tc.route).RedirectLocation(p.Scheme(""), tc.host, tc.target); got != tc.want {
			t.Errorf("%s: Location for %s%s = %q, want %q", tc.route, tc.host, tc.target, got, tc.want)
		}
	}
	for _, tc := range []struct{ route, target, want string }{
		{"prefix", "/api/v2/orders/7?x=1", "/orders/7?x=1"},
		{"regex", "/items/42/reviews?page=2", "/catalog/reviews/42$?page=2"},
		{"host", "/host/a", "/host/a"},
	} {
		if got := route(tc.route).ServicePath(tc.target); got != tc.want {
			t.Errorf("%s: service path for %s = %q, want %q", tc.route, tc.target, got, tc.want)
		}
	}
}
