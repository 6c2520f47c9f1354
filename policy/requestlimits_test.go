package policy

import "testing"

func TestRequestLimitsErrorsArePositioned(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"a body limit on a WebSocket route", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - { name: r, to: a, upgrades: [websocket], request_limits: { max_body: 1KiB } }\n", []string{
			`4:74: routes.r.request_limits.max_body: the route upgrades to websocket, a stream Envoy would hold until it ends: remove max_body`,
		}},
		{"bad sizes", ipPolicyHead + "listeners:\n  - name: l\n    port: 1\n    request_limits: { max_body: 1MB, max_headers: 1500B }\nroutes:\n  - { name: r, to: a, request_limits: { max_body: -1 } }\n  - { name: s, to: a, request_limits: { max_body: 65MiB } }\n", []string{
			`5:33: listeners.l.request_limits.max_body: "1MB" is not a size`,
			`5:51: listeners.l.request_limits.max_headers: max_headers must be a whole number of KiB from 1KiB to 8MiB (Envoy's limits), got 1500B`,
			`7:51: routes.r.request_limits.max_body: "-1" is not a size`,
			`8:51: routes.s.request_limits.max_body: max_body is at most 64MiB`,
		}},
		{"settings in the wrong place", ipPolicyHead + "listeners:\n  - { name: l, port: 1, request_limits: { methods: [GET], content_types: [text/plain] } }\nroutes:\n  - { name: r, to: a, request_limits: { max_headers: 8KiB } }\n", []string{
			`3:52: listeners.l.request_limits.methods: methods is a route setting`,
			`3:74: listeners.l.request_limits.content_types: content_types is a route setting`,
			`5:54: routes.r.request_limits.max_headers: Envoy reads a request's headers before it chooses a route: set max_headers on the listener`,
		}},
		{"unknown and repeated methods", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - { name: r, to: a, request_limits: { methods: [GET, get, BREW, GET] } }\n", []string{
			`4:50: routes.r.request_limits.methods[1]: unknown method "get"; expected upper-case`,
			`4:50: routes.r.request_limits.methods[2]: unknown method "BREW"`,
			`4:50: routes.r.request_limits.methods[3]: method "GET" is listed twice`,
		}},
		{"methods twice", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - { name: r, to: a, match: { methods: [GET] }, request_limits: { methods: [GET] } }\n", []string{
			`4:77: routes.r.request_limits.methods: the route also matches on methods (match.methods)`,
		}},
		{"bad content types", ipPolicyHead + "listeners: [{ name: l, port: 1 }]\nroutes:\n  - name: r\n    to: a\n    request_limits:\n      content_types: [application/json, json, \"text/plain; charset=utf-8\", Application/JSON, \"*/*\"]\n      methods: []\n", []string{
			`7:22: routes.r.request_limits.content_types[1]: "json" is not a media type`,
			`7:22: routes.r.request_limits.content_types[2]: "text/plain; charset=utf-8" is not a media type`,
			`7:22: routes.r.request_limits.content_types[3]: "Application/JSON" is not a media type`,
			`7:22: routes.r.request_limits.content_types[4]: "*/*" is not a media type`,
			`8:16: routes.r.request_limits.methods: an empty methods list would refuse every request`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestRequestLimitsResolve(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": ipPolicyHead + `listeners: [{ name: l, port: 1, request_limits: { max_body: 1MiB, max_headers: 16KiB } }]
routes:
  - { name: upload, to: a, request_limits: { max_body: 4096, methods: [POST, PUT], content_types: [application/json, text/*] } }
  - { name: other, to: a }
`}))
	if err != nil {
		t.Fatal(err)
	}
	l, upload, other := p.Listeners[0], p.Routes[0], p.Routes[1]
	if got := l.RequestLimits.MaxHeadersBytes; got != 16<<10 {
		t.Errorf("max_headers = %d", got)
	}
	if got := p.MaxBodyFor(l, upload); got != 4096 {
		t.Errorf("the route's max_body = %d, want its own 4096", got)
	}
	if got := p.MaxBodyFor(l, other); got != 1<<20 {
		t.Errorf("max_body of a route without one = %d, want the listener's 1MiB", got)
	}
	grpc := loadPolicyYAML(t, `listeners: [{ name: l, port: 1, request_limits: { max_body: 1MiB } }]
services: { g: { endpoints: [127.0.0.1:1], protocol: grpc } }
routes:
  - { name: stream, to: g }
  - { name: unary, to: g, request_limits: { max_body: 1KiB } }
`)
	if got := grpc.MaxBodyFor(grpc.Listeners[0], grpc.Routes[0]); got != 0 {
		t.Errorf("a gRPC route without its own max_body gets %d, want none: the listener's would hold its stream back", got)
	}
	if got := grpc.MaxBodyFor(grpc.Listeners[0], grpc.Routes[1]); got != 1024 {
		t.Errorf("a gRPC route's own max_body = %d, want 1024", got)
	}
	rl := upload.RequestLimits
	if !rl.MethodAllowed("PUT") || rl.MethodAllowed("GET") || !other.RequestLimits.MethodAllowed("BREW") {
		t.Error("MethodAllowed")
	}
	for _, tc := range []struct {
		method  string
		headers map[string][]string
		want    bool
	}{
		{"POST", map[string][]string{"Content-Type": {"application/json"}}, true},
		{"POST", map[string][]string{"content-type": {"Application/JSON; charset=utf-8"}}, true},
		{"POST", map[string][]string{"content-type": {"text/csv"}}, true},
		{"POST", map[string][]string{"content-type": {"text/"}}, false},
		{"POST", map[string][]string{"content-type": {"application/xml"}}, false},
		{"POST", map[string][]string{"content-type": {"application/json-seq"}}, false},
		{"POST", map[string][]string{"content-type": {"application/json", "text/html;x"}}, false}, // two: joined by Envoy
		{"POST", map[string][]string{"content-type": {"text/", "text/", "image/png"}}, false},
		{"POST", map[string][]string{"content-type": {"text/plain; charset=utf-8,image/png"}}, false},
		{"GET", nil, true}, // no body, no type
		{"DELETE", map[string][]string{"content-length": {"0"}}, true},   // an empty body
		{"DELETE", map[string][]string{"content-length": {"12"}}, false}, // a body without a type
		{"POST", map[string][]string{"content-length": {"0"}}, true},     // an empty POST
		{"POST", nil, false}, // possibly chunked
		{"PATCH", map[string][]string{"transfer-encoding": {"chunked"}}, false}, // chunked
	} {
		if got := rl.ContentTypeAllowed(tc.method, tc.headers); got != tc.want {
			t.Errorf("ContentTypeAllowed(%s, %v) = %v, want %v", tc.method, tc.headers, got, tc.want)
		}
	}
	if got := FormatByteSize(4096); got != "4KiB" {
		t.Errorf("FormatByteSize(4096) = %q", got)
	}
}

// Decide answers a route's request limits in the order of the routes xds
// generates: 405, then 413 on a declared length, then 415.
func TestDecideAnswersRequestLimitsInEnvoysOrder(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": ipPolicyHead + `listeners: [{ name: l, port: 1, request_limits: { max_body: 1KiB } }]
routes:
  - { name: upload, match: { path_prefix: /upload }, to: a, request_limits: { methods: [POST], content_types: [application/json] } }
  - { name: other, to: a }
`}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		headers      map[string][]string
		want         int
	}{
		{"GET", "/upload", map[string][]string{"content-length": {"5000"}, "content-type": {"text/plain"}}, 405},
		{"POST", "/upload", map[string][]string{"content-length": {"5000"}, "content-type": {"text/plain"}}, 413},
		{"POST", "/upload", map[string][]string{"content-length": {"500"}, "content-type": {"text/plain"}}, 415},
		{"POST", "/upload", map[string][]string{"content-length": {"500"}, "content-type": {"application/json"}}, 0},
		{"DELETE", "/other", map[string][]string{"content-length": {"1025"}}, 413}, // the listener's max_body
		{"DELETE", "/other", map[string][]string{"content-length": {"1024"}}, 0},
	} {
		d := p.Decide(Request{Method: tc.method, Path: tc.path, Headers: tc.headers})
		if d.Route == nil || d.Status != tc.want {
			t.Errorf("%s %s %v: route %v, status %d (%s), want %d", tc.method, tc.path, tc.headers, d.Route, d.Status, d.Reason, tc.want)
		}
	}
}

func loadPolicyYAML(t *testing.T, yaml string) *Policy {
	t.Helper()
	p, err := Load(writePolicy(t, map[string]string{"g.yaml": yaml}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
