package policy

import (
	"strings"
	"testing"
)

// Routing a client can steer: each case was a disagreement between a real
// Envoy and Policy.Match, or a route a forged request could take.

func TestRepeatedHeaderMatchesExactOnlyWhenEveryValueDoes(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": matchPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"acme"}, "header-exact"},
		{[]string{"acme", "acme"}, "header-exact"},
		{[]string{"evil", "acme"}, "header-absent"}, // the service would read "evil, acme"
		{[]string{"acme", "evil"}, "header-absent"},
		{[]string{"evil,acme"}, "header-absent"},
	} {
		r := p.Match(Request{Listener: "public", Method: "GET", Host: "x", Path: "/hdr", Headers: map[string][]string{"x-tenant": tc.values}})
		if r == nil || r.Name != tc.want {
			t.Errorf("x-tenant %q: got %v, want %s", tc.values, r, tc.want)
		}
	}
	// A regex condition holds when one of the values matches: Envoy tests
	// each value, and cannot say "every value" for an arbitrary expression.
	r := p.Match(Request{Listener: "public", Method: "GET", Host: "x", Path: "/hdr", Headers: map[string][]string{"x-version": {"v3", "v1"}}})
	if r == nil || r.Name != "header-regex" {
		t.Errorf("x-version v3, v1: got %v, want header-regex", r)
	}
}

func TestHeaderNotExactPatternMatchesEveryOtherValue(t *testing.T) {
	for _, exact := range []string{"", "acme", "a.b*", "é-x"} {
		expr := HeaderNotExactPattern(exact)
		for _, v := range []string{"", "a", "ac", "acm", "acme", "acmee", "xacme", "a.b*", "a.bb", "é-x", "é-", "é-xx", "e-x"} {
			if got, want := fullMatch(expr, v), v != exact; got != want {
				t.Errorf("HeaderNotExactPattern(%q) = %q on %q: %v, want %v", exact, expr, v, got, want)
			}
		}
	}
}

func TestWildcardHostDoesNotSwallowAPort(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": matchPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"a.example.org":           true,
		"a.b.example.org:8080":    true,
		"evil.com:a.example.org":  false,
		"evil.com:1.example.org":  false,
		"evil.com:.example.org:1": false,
	} {
		r := p.Match(Request{Listener: "public", Method: "GET", Host: host, Path: "/h"})
		if got := r != nil && r.Name == "host"; got != want {
			t.Errorf("Host %q: host route %v, want %v", host, got, want)
		}
	}
}

func TestHeaderMatchersOnGatewaySetHeadersAreRefused(t *testing.T) {
	head := "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n"
	for _, name := range []string{"x-tollgate-client-id", "X-Tollgate-Anything", "x-real-ip", "x-forwarded-for", "X-Forwarded-Host",
		"x-request-id", "x-envoy-original-path", "forwarded", "true-client-ip", "x-client-ip"} {
		checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": head + "  - { name: r, match: { headers: [{ name: " + name + ", present: true }] }, to: a }\n"}),
			[]string{`4:43: routes.r.match.headers[0].name: "` + name + `" is set by the gateway`})
	}
}

func TestNonASCIIPathIsRefused(t *testing.T) {
	head := "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n"
	checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": head + "  - { name: r, match: { path: /café }, to: a }\n"}),
		[]string{`4:31: routes.r.match.path: "/café" holds a byte Envoy cannot match in a path (only ASCII 0x21-0x7E; write others percent-encoded)`})
	checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": head + "  - { name: r, match: { path_prefix: \"/a b\" }, to: a }\n"}),
		[]string{`4:38: routes.r.match.path_prefix: "/a b" holds a byte Envoy cannot match in a path (only ASCII 0x21-0x7E; write others percent-encoded)`})
}

func TestNormalizePathLikeEnvoyOnSteeringCases(t *testing.T) {
	for in, want := range map[string]string{
		"/x/..;x/exact":       "/exact",
		"/.;x/exact":          "/exact",
		"/a/b/..;":            "/a/",
		"/a/b/..;x;y/c":       "/a/c",
		"/a/b/..;x?q=1":       "/a/?q=1",
		"/a/x.;y/b":           "/a/x.;y/b",
		"/a/b/...;x/c":        "/a/b/...;x/c",
		"/a/b/.%2e;x/c":       "/a/b/..;x/c",
		"/a/b;p/c":            "/a/b;p/c",
		"/%%32%65/exact":      "/%252e/exact",
		"/x/%%30%30":          "/x/%2500",
		"/x/%2%35":            "/x/%2525",
		"/x/%%2e":             "/x/%.",
		"/x/%zz":              "/x/%zz",
		"/x|y`z{}^":           "/x%7Cy%60z%7B%7D%5E",
		"/x/%%32%65%%32%65/y": "/x/%252e%252e/y",
	} {
		got, err := NormalizePath(in)
		if err != nil || got.Path != want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", in, got.Path, err, want)
		}
	}
}

func TestLongExactHeaderValueIsRefused(t *testing.T) {
	head := "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n"
	checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": head + "  - { name: r, match: { headers: [{ name: x-t, exact: " + strings.Repeat("a", 200) + " }] }, to: a }\n"}),
		[]string{`4:55: routes.r.match.headers[0].exact: a header value of 200 characters is too long to match exactly (at most 140)`})
	if _, err := Load(writePolicy(t, map[string]string{"ok.yaml": head + "  - { name: r, match: { headers: [{ name: x-t, exact: " + strings.Repeat("a", 140) + " }] }, to: a }\n"})); err != nil {
		t.Errorf("140 characters: %v", err)
	}
}
