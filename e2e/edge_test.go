package e2e

import (
	"testing"
)

// edgePolicy has a protected-looking route (/admin, and every path of the
// host admin.example.com, served by "private") next to a catch-all public
// one: a request that means the private route but matches the public one
// would skip whatever the private route enforces (auth, limits).
const edgePolicy = listenerYAML + `routes:
  - { name: admin-host, match: { hosts: [admin.example.com] }, to: private }
  - { name: admin, match: { path_prefix: /admin }, to: private }
  - { name: public, to: public }
`

func startEdgeGateway(t *testing.T) *gateway {
	t.Helper()
	return startGateway(t, map[string]string{
		"gateway.yaml": edgePolicy + servicesYAML(t, "private", "public"),
	}, false, "/", "public")
}

// spelling is a request for the private route written another way.
type spelling struct{ name, path, host string }

// expectPrivate checks that each spelling reaches the private service
// (following the redirects Envoy may answer with), never the public one.
func expectPrivate(t *testing.T, g *gateway, spellings []spelling) {
	t.Helper()
	for _, s := range spellings {
		t.Run(s.name, func(t *testing.T) {
			headers := map[string]string{}
			if s.host != "" {
				headers["Host"] = s.host
			}
			status, r := call("GET", g.base+s.path, headers)
			if status != 200 || r.Service != "private" {
				t.Errorf("GET %s (host %q): status %d from %q (path %q), want 200 from private", s.path, s.host, status, r.Service, r.Path)
			}
		})
	}
}

// A path with dot segments, doubled slashes or encoded slashes still gets
// the route the policy wrote for it, not the public one next to it.
func TestEdgePathSpellingsCannotSkipARoute(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	expectPrivate(t, g, []spelling{
		{"plain", "/admin/users", ""},
		{"dot segments", "/public/../admin/users", ""},
		{"encoded dot segments", "/public/%2e%2e/admin/users", ""},
		{"double slash", "//admin/users", ""},
		{"encoded slash", "/public/..%2fadmin/users", ""},
		{"encoded slash upper case", "/public/..%2Fadmin/users", ""},
		{"encoded backslash", "/public/..%5Cadmin/users", ""},
	})
}

// A path in other letter case gets the route of the same path in policy
// case: services that ignore case would otherwise serve /admin through the
// public route.
func TestEdgePathCaseCannotSkipARoute(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	expectPrivate(t, g, []spelling{
		{"upper case", "/ADMIN/users", ""},
		{"mixed case", "/Admin/users", ""},
		{"encoded upper case", "/public/..%2FADMIN/users", ""},
	})
}

// A host written with a trailing dot, in other case or with a port gets
// the route of the host the policy names.
func TestEdgeHostSpellingsCannotSkipARoute(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	expectPrivate(t, g, []spelling{
		{"plain", "/users", "admin.example.com"},
		{"trailing dot", "/users", "admin.example.com."},
		{"trailing dot and port", "/users", "admin.example.com.:80"},
		{"upper case and port", "/users", "ADMIN.example.com:80"},
		{"empty port", "/users", "admin.example.com:"},
		{"port not a number", "/users", "admin.example.com:x"},
	})
}

// Header names with underscores are refused: services that read headers
// CGI-style see x_tollgate_client_id as x-tollgate-client-id, which the
// identity header filter would not have removed.
func TestEdgeRefusesUnderscoreHeaders(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	for _, name := range []string{"x_tollgate_client_id", "X_Tollgate_Auth", "x-tollgate_tier"} {
		status, body, err := httpDo("GET", g.base+"/users", map[string]string{name: "admin"})
		if err != nil || status != 400 {
			t.Errorf("header %s: status %d, err %v, want 400; body %s", name, status, err, body)
		}
	}
	if status, _ := call("GET", g.base+"/users", map[string]string{"x-custom": "v"}); status != 200 {
		t.Errorf("an ordinary request got %d", status)
	}
}
