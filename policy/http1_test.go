package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Each row was observed on a real Envoy 1.40 with Tollgate's listener
// settings; e2e/differential_test.go sends such requests to one.
func TestParseRequestAndDecideAsEnvoy(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": `
listeners: [{ name: public, port: 8080 }]
services: { svc: { endpoints: [127.0.0.1:9001] } }
routes:
  - { name: exact, match: { path: /exact }, to: svc }
  - { name: host, match: { path_prefix: /h, hosts: [api.example.com, "*.example.org"] }, to: svc }
  - { name: tenant, match: { path_prefix: /hdr, headers: [{ name: x-tenant, exact: acme }] }, to: svc }
  - { name: all, match: { path_prefix: / }, to: svc }
`}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		raw  string
		want string // route name, "404", "307 /path" or the refusal's status
	}{
		{"GET /exact HTTP/1.1\r\nHost: x\r\n\r\n", "exact"},
		{"GET /exact\tHTTP/1.1\r\nHost: x\r\n\r\n", "exact"}, // a tab separates
		{"GET /exact HTTP/1.1\t\r\nHost: x\r\n\r\n", "exact"},
		{"GET  /exact  HTTP/1.1 \nHost: x\n\n", "exact"},
		{"GET /x/..;x/exact HTTP/1.1\r\nHost: x\r\n\r\n", "exact"},
		{"GET /.;x/exact HTTP/1.1\r\nHost: x\r\n\r\n", "exact"},
		{"GET //exact HTTP/1.1\r\nHost: x\r\n\r\n", "exact"},
		{"GET /%%32%65/exact HTTP/1.1\r\nHost: x\r\n\r\n", "all"},
		{"GET /x%2Fy?a HTTP/1.1\r\nHost: x\r\n\r\n", "307 /x/y?a"},
		{"GET http://api.example.com/h HTTP/1.1\r\nHost: evil.com\r\n\r\n", "host"}, // the URL's host wins
		{"GET http://evil.com/h HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "all"},
		{"GET http://user@api.example.com:99/h HTTP/1.1\r\n\r\n", "host"},
		{"GET http://api.example.com?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"GET http://api.example.com?x=1#f HTTP/1.1\r\nHost: x\r\n\r\n", "404"}, // no path: the fragment is never seen
		{"GET https://api.example.com/h HTTP/1.1\r\nHost: x\r\n\r\n", "403"},
		{"GET ftp://api.example.com/h HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET /h HTTP/1.1\r\nHost: evil.com\r\nHost: api.example.com\r\n\r\n", "all"}, // "evil.com,api.example.com"
		{"GET /h HTTP/1.1\r\nHost: API.example.com.:80\r\n\r\n", "host"},
		{"GET /h HTTP/1.1\r\nHost: api.example.com..\r\n\r\n", "all"},
		{"GET /h HTTP/1.1\r\nHost: evil.com:a.example.org\r\n\r\n", "all"},
		{"GET /hdr HTTP/1.1\r\nHost: x\r\nx-tenant: evil\r\nX-Tenant: acme\r\n\r\n", "all"},
		{"GET /hdr HTTP/1.1\r\nHost: x\r\nx-tenant:\tacme \r\n\r\n", "tenant"},
		{"GET /exact#frag HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET /exact HTTP/1.1\r\nHost: x\r\nx_a: 1\r\n\r\n", "400"},
		{"GET /exact HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\nContent-Length: 0\r\n\r\n", "400"}, // even equal
		{"GET /exact HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n\r\n", "exact"},
		{"GET /exact HTTP/1.1\r\nHost: x\r\ncontent-length: 0\r\n x-a: 1\r\n\r\n", "400"}, // folded into the length
		{"GET /exact HTTP/1.0\r\nHost: x\r\n\r\n", "426"},
		{"GET /exact HTTP/2.0\r\nHost: x\r\n\r\n", "426"},
		{"GET /exact http/1.1\r\nHost: x\r\n\r\n", "400"},
		{"get /exact HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"FOO /exact HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"PROPFIND /exact HTTP/1.1\r\nHost: x\r\n\r\n", "exact"},
		{"GET /x/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: \xc3\xa9.example.org\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: x\r\nx-a: \xc3\xa9\r\n\r\n", "all"},
		{"GET /api/" + strings.Repeat("a", 70000) + " HTTP/1.1\r\nHost: x\r\n\r\n", "431"},
		{"GET /x HTTP/1.1\r\n\r\n", "400"},
		{"GET * HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"GET x HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: x\r\nx-a : 1\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: x\r\n x-a: 1\r\n\r\n", "400"},
		{"GET /x HTTP/1.1\r\nHost: a/b\r\n\r\n", "400"},
		{"GET /x%00 HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET /x\x7f HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		// Found by the differential test: the order of Envoy's refusals,
		{"GET /x#a HTTP/1.0\r\nHost: x\r\n\r\n", "426"},                    // version before fragment
		{"GET \\x HTTP/1.0\r\nHost: x\r\n\r\n", "400"},                     // target form before version
		{"CONNECT /x HTTP/1.0\r\nHost: x\r\n\r\n", "400"},                  // CONNECT before version
		{"PUT * HTTP/1.0\r\nHost: x\r\n\r\n", "400"},                       // * before version
		{"PUT https://a.example.org/x HTTP/1.0\r\nHost: x\r\n\r\n", "403"}, // https before version
		{"GET https://a.example.org/x HTTP/1.1\r\nx_a: 1\r\n\r\n", "400"},  // headers before https
		{"GET https://a.example.org:x/ HTTP/1.1\r\n\r\n", "400"},           // URL port
		{"GET http://x~/ HTTP/1.1\r\n\r\n", "400"},                         // URL host
		{"GET http://a.org:65536/ HTTP/1.1\r\n\r\n", "400"},
		{"OPTIONS *//x HTTP/1.1\r\nHost: x\r\n\r\n", "404"},
		{"GET *//x HTTP/1.1\r\nHost: x\r\n\r\n", "400"},
		{"GET http://a%41.org/ HTTP/1.1\r\n\r\n", "400"},
		{"OPTIONS * HTTP/1.1\r\n\r\n", "400"}, // Host is needed for *
		// repeated Host headers, as Envoy appends them,
		{"GET /h HTTP/1.1\r\nHost: \r\nHost: api.example.com\r\n\r\n", "host"},
		{"GET /h HTTP/1.1\r\nHost: api.example.com\r\nHost: \r\n\r\n", "host"},
		// a dot after the port, merged slashes, ..;x after a backslash.
		{"GET /h HTTP/1.1\r\nHost: api.example.com:8443.\r\n\r\n", "host"},
		{"GET /%2f HTTP/1.1\r\nHost: x\r\n\r\n", "307 //"},
		{"GET /a\\..;x/b HTTP/1.1\r\nHost: x\r\n\r\n", "all"},
		{"GET /..;x\\h/a HTTP/1.1\r\nHost: api.example.com\r\n\r\n", "all"},
	} {
		if got := decideRaw(p, tc.raw); got != tc.want {
			t.Errorf("%.80q: got %s, want %s", tc.raw, got, tc.want)
		}
	}
	// Over TLS, Envoy takes an absolute target of either scheme.
	for _, raw := range []string{"GET https://a.example.org/h HTTP/1.1\r\nHost: x\r\n\r\n", "GET http://a.example.org/h HTTP/1.1\r\n\r\n"} {
		if r, err := ParseRequest([]byte(raw), true); err != nil || r.Host != "a.example.org" || r.Path != "/h" {
			t.Errorf("%q over TLS: %+v, %v", raw, r, err)
		}
	}
}

// decideRaw is the outcome of a raw request on listener public.
func decideRaw(p *Policy, raw string) string {
	r, err := ParseRequest([]byte(raw), false)
	var refused *Refusal
	if errors.As(err, &refused) {
		return fmt.Sprint(refused.Status)
	}
	r.Listener = "public"
	d := p.Decide(r)
	switch {
	case d.Redirect:
		return "307 " + d.Path
	case d.Route != nil:
		return d.Route.Name
	}
	return fmt.Sprint(d.Status)
}
