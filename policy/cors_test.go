package policy

import (
	"regexp"
	"strings"
	"testing"
)

const corsBase = "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\n"

var corsErrors = []struct {
	name   string
	policy string
	want   []string
}{
	{"origins", corsBase + "routes:\n  - name: r\n    to: a\n    cors:\n      allow_origins: [https://ok.example.com, https://a.example.com/path, example.com, \"*\"]\n      allow_credentials: true\n", []string{
		`7:22: routes.r.cors.allow_origins[1]: "https://a.example.com/path" is not an origin: scheme://host[:port] without a path`,
		`7:22: routes.r.cors.allow_origins[2]: "example.com" is not an origin`,
		`8:26: routes.r.cors.allow_credentials: credentials with any origin ("*") would let every web site call with its visitors' cookies; list the origins`,
	}},
	{"no origins, bad methods, headers and max age", "listeners:\n  - name: l\n    port: 1\n    cors: { allow_methods: [get], allow_headers: [\"x a\"], max_age: 1500ms }\n", []string{
		`4:11: listeners.l.cors.allow_origins: list the origins whose pages may call`,
		`4:28: listeners.l.cors.allow_methods: unknown method "get"`,
		`4:50: listeners.l.cors.allow_headers[0]: "x a" is not a valid header name`,
		`4:68: listeners.l.cors.max_age: must be a whole number of seconds, got 1.5s`,
	}},
	{"a pattern too large for Envoy", corsBase + "routes:\n  - { name: r, to: a, cors: { allow_origins: [\"https://" + strings.Repeat("*.", 150) + "example.com\"] } }\n", []string{
		`4:46: routes.r.cors.allow_origins[0]: regular expression too large for Envoy`,
	}},
	{"a route with cors must match preflights", corsBase + "routes:\n  - { name: r, to: a, match: { methods: [GET, POST] }, cors: { allow_origins: [\"https://a.example\"] } }\n", []string{
		`4:41: routes.r.match.methods: the route has cors but does not match OPTIONS`,
	}},
	{"a route with cors must not refuse preflights", corsBase + "routes:\n  - { name: r, to: a, request_limits: { methods: [GET] }, cors: { allow_origins: [\"https://a.example\"] } }\n", []string{
		`4:50: routes.r.request_limits.methods: the route has cors but its methods leave out OPTIONS: add OPTIONS, or browsers' preflights get 405`,
	}},
}

func TestCORSRefusedWithPositions(t *testing.T) {
	for _, tc := range corsErrors {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

// An origin pattern's "*" stands for host labels only: another host
// written around it never matches.
func TestOriginPattern(t *testing.T) {
	re := regexp.MustCompile("^(?:" + OriginPattern("https://*.example.com") + ")$")
	for origin, want := range map[string]bool{
		"https://app.example.com":          true,
		"https://a.b.example.com":          true,
		"HTTPS://APP.EXAMPLE.COM":          true,
		"https://example.com":              false,
		"http://app.example.com":           false,
		"https://evil.com/.example.com":    false,
		"https://evil.com?.example.com":    false,
		"https://evil.com:1@x.example.com": false,
		"https://app.example.com.evil.com": false,
		"https://appXexample.com":          false,
	} {
		if got := re.MatchString(origin); got != want {
			t.Errorf("%s: matched %v, want %v", origin, got, want)
		}
	}
}
