package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// checkRoutes has one service per route, named like the route, so that the
// service Envoy reached names the route it chose.
const checkRoutes = `
routes:
  - { name: exact, match: { path: /exact }, to: exact }
  - { name: regex, match: { path_regex: "^/items/[0-9]+$" }, to: regex }
  - { name: host, match: { path_prefix: /h, hosts: [api.example.com, "*.example.org"] }, to: host }
  - { name: host-port, match: { path_prefix: /p, hosts: ["ported.example.com:8443"] }, to: host-port }
  - { name: method, match: { path_prefix: /m, methods: [POST, PUT] }, to: method }
  - { name: header-exact, match: { path_prefix: /hdr, headers: [{ name: x-tenant, exact: acme }] }, to: header-exact }
  - { name: header-regex, match: { path_prefix: /hdr, headers: [{ name: x-version, regex: "v[12]" }] }, to: header-regex }
  - { name: header-present, match: { path_prefix: /hdr, headers: [{ name: x-debug, present: true }] }, to: header-present }
  - { name: header-absent, match: { path_prefix: /hdr, headers: [{ name: x-other, present: false }] }, to: header-absent }
  - { name: query-exact, match: { path_prefix: /q, query: [{ name: mode, exact: fast }] }, to: query-exact }
  - { name: query-regex, match: { path_prefix: /q, query: [{ name: id, regex: "[0-9]+" }] }, to: query-regex }
  - { name: query-present, match: { path_prefix: /q, query: [{ name: debug, present: true }] }, to: query-present }
  - { name: query-absent, match: { path_prefix: /qa, query: [{ name: trace, present: false }] }, to: query-absent }
  - { name: prefix, match: { path_prefix: /api }, to: prefix }
`

// checkLimitedRoute has request limits, which Envoy answers before the
// route (405, 415).
const checkLimitedRoute = `
  - { name: limited, match: { path_prefix: /lim }, to: limited, request_limits: { methods: [GET, POST], content_types: [application/json] } }
`

// TestCheckAgreesWithEnvoy sends each request through a real Envoy and asks
// `tollgate check` about it: both must name the same route (or none).
// policy/match.go reimplements Envoy's matching; this is what keeps the two
// in step when either changes.
func TestCheckAgreesWithEnvoy(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{
		"10-listeners.yaml": listenerYAML,
		"20-services.yaml": servicesYAML(t, "exact", "regex", "host", "host-port", "method", "header-exact", "header-regex",
			"header-present", "header-absent", "query-exact", "query-regex", "query-present", "query-absent", "prefix", "limited"),
		"30-routes.yaml": checkRoutes + checkLimitedRoute,
	}, false, "/api/probe", "prefix")

	cases := []struct {
		method, path string
		headers      map[string]string
	}{
		{"GET", "/exact", nil},
		{"GET", "/EXACT", nil},
		{"GET", "/exact?x=1", nil},
		{"GET", "/exact/more", nil},
		{"GET", "/a/../exact", nil},
		{"GET", "//exact", nil},
		{"GET", "/%65xact", nil},
		{"GET", "/x/%2e%2E/exact", nil},
		{"GET", "/items/42", nil},
		{"GET", "/items/42x", nil},
		{"GET", "/ITEMS/42", nil},
		{"GET", "/h", map[string]string{"Host": "API.Example.com"}},
		{"GET", "/h", map[string]string{"Host": "api.example.com:8080"}},
		{"GET", "/h", map[string]string{"Host": "api.example.com."}},
		{"GET", "/h", map[string]string{"Host": "a.b.example.org"}},
		{"GET", "/h", map[string]string{"Host": "example.org"}},
		{"GET", "/p", map[string]string{"Host": "ported.example.com:8443"}},
		{"GET", "/p", map[string]string{"Host": "ported.example.com"}},
		{"PUT", "/m", nil},
		{"GET", "/m", nil},
		{"GET", "/hdr", map[string]string{"x-tenant": "acme", "x-debug": "1"}},
		{"GET", "/hdr", map[string]string{"x-version": "v2"}},
		{"GET", "/hdr", map[string]string{"x-version": "v12"}},
		{"GET", "/hdr", map[string]string{"x-debug": ""}},
		{"GET", "/hdr", nil},
		{"GET", "/hdr", map[string]string{"x-other": "1"}},
		{"GET", "/q?mode=fast", nil},
		{"GET", "/q?mode=slow&mode=fast", nil},
		{"GET", "/q?id=123", nil},
		{"GET", "/q?id=12a", nil},
		{"GET", "/q?a&debug", nil},
		{"GET", "/qa?x=1", nil},
		{"GET", "/qa?x=1&trace", nil},
		{"GET", "/Api/x", nil},
		{"GET", "/public/..%2Fapi/x", nil}, // Envoy redirects; the client follows
		{"GET", "/nothing", nil},
		// request_limits: Envoy answers 405 or 415 for the route.
		{"GET", "/lim", nil},
		{"DELETE", "/lim", nil},
		{"POST", "/lim", map[string]string{"Content-Length": "0"}},
		{"POST", "/lim", map[string]string{"Content-Length": "0", "Content-Type": "text/plain"}},
		{"POST", "/lim", map[string]string{"Content-Length": "0", "Content-Type": "application/JSON; charset=utf-8"}},
	}
	for _, tc := range cases {
		status, r := call(tc.method, g.base+tc.path, tc.headers)
		envoySaw := r.Service
		if status != 200 {
			envoySaw = fmt.Sprint(status)
		}
		res := runCheck(t, g, tc.method, tc.path, tc.headers)
		checkSaw := "404"
		if res.Route != nil {
			checkSaw = res.Route.Name
		}
		if res.Route != nil && res.Status >= 400 { // refused by request_limits
			checkSaw = fmt.Sprint(res.Status)
		}
		if checkSaw != envoySaw {
			t.Errorf("%s %s %v: tollgate check says %s, Envoy routed to %s", tc.method, tc.path, tc.headers, checkSaw, envoySaw)
			continue
		}
		if p, _, _ := strings.Cut(res.MatchedPath, "?"); status == 200 && p != r.Path {
			t.Errorf("%s %s: tollgate check matched the path as %s, the service received %s", tc.method, tc.path, p, r.Path)
		}
	}
}

// checkAnswer is the part of `tollgate check --json` the test reads.
type checkAnswer struct {
	MatchedPath string `json:"matched_path"`
	Status      int    `json:"status"`
	Route       *struct {
		Name string `json:"name"`
	} `json:"route"`
}

// runCheck asks the built binary about a request as the gateway would
// receive it.
func runCheck(t *testing.T, g *gateway, method, path string, headers map[string]string) checkAnswer {
	t.Helper()
	args := []string{"check", "--json", "--policy", g.dir, "--listener", "public", method, path}
	host := strings.TrimPrefix(g.base, "http://")
	for k, v := range headers {
		if strings.EqualFold(k, "host") {
			host = v
			continue
		}
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, "-H", "Host: "+host)
	out, err := exec.Command(tollgateBin, args...).Output()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("tollgate %s: %v", strings.Join(args, " "), err)
	}
	var res checkAnswer
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("tollgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return res
}
