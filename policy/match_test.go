package policy

import (
	"errors"
	"strings"
	"testing"
)

const matchPolicy = `
listeners:
  - { name: public, port: 8080 }
  - { name: internal, port: 9090, hosts: [api.example.com, "*.corp.example.com"] }
  - { name: ported, port: 7070, hosts: ["api.example.com:7070"] }
services:
  svc: { endpoints: [127.0.0.1:9001] }
routes:
  - { name: exact, match: { path: /exact }, to: svc }
  - { name: regex, match: { path_regex: "^/items/[0-9]+$" }, to: svc }
  - { name: host, match: { path_prefix: /h, hosts: [api.example.com, "*.example.org"] }, to: svc }
  - { name: host-port, match: { path_prefix: /p, hosts: ["api.example.com:8443"] }, to: svc }
  - { name: method, match: { path_prefix: /m, methods: [POST, PUT] }, to: svc }
  - { name: header-exact, match: { path_prefix: /hdr, headers: [{ name: x-tenant, exact: acme }] }, to: svc }
  - { name: header-regex, match: { path_prefix: /hdr, headers: [{ name: x-version, regex: "v[12]" }] }, to: svc }
  - { name: header-present, match: { path_prefix: /hdr, headers: [{ name: x-debug, present: true }] }, to: svc }
  - { name: header-absent, match: { path_prefix: /hdr, headers: [{ name: x-other, present: false }] }, to: svc }
  - { name: query-exact, match: { path_prefix: /q, query: [{ name: mode, exact: fast }] }, to: svc }
  - { name: query-regex, match: { path_prefix: /q, query: [{ name: id, regex: "[0-9]+" }] }, to: svc }
  - { name: query-present, match: { path_prefix: /q, query: [{ name: debug, present: true }] }, to: svc }
  - { name: query-absent, match: { path_prefix: /qa, query: [{ name: trace, present: false }] }, to: svc }
  - { name: internal-only, listeners: [internal], match: { path_prefix: /i }, to: svc }
  - { name: prefix, match: { path_prefix: /api }, to: svc }
`

func TestMatchFollowsEnvoysRules(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": matchPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) map[string][]string {
		m := map[string][]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = append(m[kv[i]], kv[i+1])
		}
		return m
	}
	for _, tc := range []struct {
		listener, method, host, path string
		headers                      map[string][]string
		want                         string // route name, "" for no match
	}{
		{"public", "GET", "x", "/exact", nil, "exact"},
		{"public", "GET", "x", "/EXACT", nil, "exact"},      // path ignores case
		{"public", "GET", "x", "/exact?a=1", nil, "exact"},  // query is not part of the path
		{"public", "GET", "x", "/exact/more", nil, ""},      // exact means exact
		{"public", "GET", "x", "/a/../exact", nil, "exact"}, // dot segments resolved
		{"public", "GET", "x", "//exact", nil, "exact"},     // slashes merged
		{"public", "GET", "x", "/%65xact", nil, "exact"},    // unreserved escapes decoded
		{"public", "GET", "x", "/x/%2e%2E/exact", nil, "exact"},
		{"public", "GET", "x", "/items/42", nil, "regex"},
		{"public", "GET", "x", "/items/42x", nil, ""}, // full match
		{"public", "GET", "x", "/ITEMS/42", nil, ""},  // regexes keep case
		{"public", "GET", "API.Example.COM", "/h", nil, "host"},
		{"public", "GET", "api.example.com:8080", "/h", nil, "host"},
		{"public", "GET", "api.example.com:", "/h", nil, "host"},
		{"public", "GET", "api.example.com.", "/h", nil, "host"}, // trailing dot stripped
		{"public", "GET", "a.b.example.org", "/h", nil, "host"},
		{"public", "GET", "example.org", "/h", nil, ""},
		{"public", "GET", "other.example.com", "/h", nil, ""},
		{"public", "GET", "api.example.com:8443", "/p", nil, "host-port"},
		{"public", "GET", "api.example.com", "/p", nil, ""},
		{"public", "POST", "x", "/m", nil, "method"},
		{"public", "GET", "x", "/m", nil, ""},
		{"public", "post", "x", "/m", nil, ""}, // methods are case-sensitive
		{"public", "GET", "x", "/hdr", h("X-Tenant", "acme", "x-debug", "1"), "header-exact"},
		{"public", "GET", "x", "/hdr", h("x-version", "v2"), "header-regex"},
		{"public", "GET", "x", "/hdr", h("x-version", "v2", "x-version", "v1"), "header-regex"}, // one value matches
		{"public", "GET", "x", "/hdr", h("x-debug", ""), "header-present"},
		{"public", "GET", "x", "/hdr", nil, "header-absent"},
		{"public", "GET", "x", "/hdr", h("x-other", "1"), ""},
		{"public", "GET", "x", "/q?mode=fast", nil, "query-exact"},
		{"public", "GET", "x", "/q?mode=slow&mode=fast", nil, ""}, // the first value counts
		{"public", "GET", "x", "/q?id=123", nil, "query-regex"},
		{"public", "GET", "x", "/q?id=12a", nil, ""},
		{"public", "GET", "x", "/q?a&debug", nil, "query-present"},
		{"public", "GET", "x", "/qa?x=1", nil, "query-absent"},
		{"public", "GET", "x", "/qa?x=1&trace=1", nil, ""},
		{"public", "GET", "x", "/i", nil, ""}, // not attached to public
		{"public", "GET", "x", "/Api/x", nil, "prefix"},
		{"public", "GET", "x", "/nothing", nil, ""},
		{"public", "GET", "x", "/api/%00", nil, ""}, // Envoy answers 400
		{"internal", "GET", "API.example.com:9090", "/i", nil, "internal-only"},
		{"internal", "GET", "a.corp.example.com", "/i", nil, "internal-only"},
		{"internal", "GET", "corp.example.com", "/i", nil, ""}, // not a listener host
		{"internal", "GET", "elsewhere.com", "/api", nil, ""},
		{"ported", "GET", "api.example.com:7070", "/api", nil, "prefix"},
		{"ported", "GET", "api.example.com", "/api", nil, ""}, // ports take part
		{"nope", "GET", "x", "/api", nil, ""},
		{"", "GET", "x", "/api", nil, ""}, // several listeners: one must be named
	} {
		req := Request{Listener: tc.listener, Method: tc.method, Host: tc.host, Path: tc.path, Headers: tc.headers}
		assertCachedAgrees(t, p, req)
		got := ""
		if r := p.Match(req); r != nil {
			got = r.Name
		}
		if got != tc.want {
			t.Errorf("%s %s %s%s %v: got %q, want %q", tc.listener, tc.method, tc.host, tc.path, tc.headers, got, tc.want)
		}
	}
}

func TestNormalizePathAsEnvoy(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		redirect bool
	}{
		{"/", "/", false},
		{"", "/", false},
		{"/a/b/../c", "/a/c", false},
		{"/a/./b/.", "/a/b/", false},
		{"/../../a", "/a", false},
		{"/a/..", "/", false},
		{"/a/%2e%2E/b", "/b", false},
		{"/a/.b/..c/...", "/a/.b/..c/...", false},
		{"/a//b///c/", "/a/b/c/", false},
		{`/a\b`, "/a/b", false},
		{"/%41%7e%2D", "/A~-", false},
		{"/%20%3a%zz%", "/%20%3a%zz%", false},
		{"/a b\"<>", "/a%20b%22%3C%3E", false},
		{"/a?x=/../b//c", "/a?x=/../b//c", false},
		{"/public/..%2fadmin", "/admin", true},
		{"/a%5Cb", "/a/b", true},
		{"/a%2F%2fb", "/a/b", true},
	} {
		got, err := NormalizePath(tc.in)
		if err != nil || got.Path != tc.want || got.Redirect != tc.redirect {
			t.Errorf("NormalizePath(%q) = %+v, %v; want %q redirect %v", tc.in, got, err, tc.want, tc.redirect)
		}
	}
	for _, bad := range []string{"/a%00", "/a\x00b"} {
		if _, err := NormalizePath(bad); !errors.Is(err, ErrInvalidPath) {
			t.Errorf("NormalizePath(%q): err %v, want ErrInvalidPath", bad, err)
		}
	}
}

func TestHostPatternTakesEveryHostForStar(t *testing.T) {
	if HostPattern([]string{"a.example.com", "*"}) != "" || HostPattern(nil) != "" {
		t.Error("a hosts list with * must take every host")
	}
	if got := HostPattern([]string{"*.example.com:8443"}); !strings.Contains(got, `[^:]+\.example\.com:8443`) {
		t.Errorf("HostPattern = %q", got)
	}
}
