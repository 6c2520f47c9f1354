package e2e

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// requestLimitsPolicy: /upload takes POST and PUT of JSON up to 1 KiB and
// is limited to 2 requests per client before authentication; /stream
// inherits the listener's 2 KiB body limit; the listener reads request
// heads of at most 4 KiB.
const requestLimitsPolicy = `listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}}, request_limits: { max_body: 2KiB, max_headers: 4KiB } }
routes:
  - { name: probe, match: { path_prefix: /probe }, to: api }
  - name: upload
    match: { path_prefix: /upload }
    to: api
    rate_limits: [per-ip]
    request_limits: { max_body: 1KiB, methods: [POST, PUT], content_types: [application/json] }
  - { name: stream, match: { path_prefix: /stream }, to: api }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], fixed_window: { limit: 2, window: 1h } }
`

// countingService is the demo service "api", counting the requests that
// carry x-refused (each one the gateway should refuse).
func countingService(t *testing.T, refused *atomic.Int64) string {
	addr := upstream(t, "api", 1, func(_ int, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("x-refused") != "" {
				refused.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})[0]
	return "services:\n  api: { endpoints: [" + addr + "] }\n"
}

// chunked is a request body Go's client sends without a Content-Length.
type chunked struct{ io.Reader }

// sendBody sends method to url with headers and body (chunked when asked)
// and returns the response and its body.
func sendBody(t *testing.T, method, url string, headers map[string]string, body string, isChunked bool) (*http.Response, []byte) {
	t.Helper()
	req, err := newRequest(method, url, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	if isChunked {
		req.Body, req.ContentLength = io.NopCloser(chunked{strings.NewReader(body)}), -1
	}
	resp, b, err := roundTrip(client, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b
}

// Each request limit is answered by Envoy with its status and a JSON
// error: 405 with Allow, 415, 413 on a declared length and on a chunked
// body, 431 on large headers. None reaches the service, and the refusals
// answered on the headers are not counted against the route's limit.
func TestRequestLimitsRefuseBeforeTheService(t *testing.T) {
	t.Parallel()
	var refused atomic.Int64
	g := startGateway(t, map[string]string{"gateway.yaml": requestLimitsPolicy + countingService(t, &refused)}, false, "/probe", "api")
	json := map[string]string{"content-type": "application/json", "x-refused": "yes"}
	big := `{"pad":"` + strings.Repeat("x", 1500) + `"}`

	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
		body               string
		chunked            bool
		want               int
		code               string
	}{
		{"a method the route does not serve", "GET", "/upload", map[string]string{"x-refused": "yes"}, "", false, 405, "method_not_allowed"},
		{"another content type", "POST", "/upload", map[string]string{"content-type": "text/plain", "x-refused": "yes"}, "{}", false, 415, "unsupported_media_type"},
		{"a body without a content type", "PUT", "/upload", map[string]string{"x-refused": "yes"}, "{}", false, 415, "unsupported_media_type"},
		{"a chunked body without a content type", "PUT", "/upload", map[string]string{"x-refused": "yes"}, "{}", true, 415, "unsupported_media_type"},
		{"a declared length over the route's max_body", "POST", "/upload", json, big, false, 413, "payload_too_large"},
		{"a chunked body over the listener's max_body", "POST", "/stream", json, strings.Repeat(big, 2), true, 413, "payload_too_large"},
		{"a declared length over the listener's max_body", "POST", "/stream", json, strings.Repeat(big, 2), false, 413, "payload_too_large"},
	} {
		resp, body := sendBody(t, tc.method, g.base+tc.path, tc.headers, tc.body, tc.chunked)
		e := refusalBody(t, resp, body)
		if resp.StatusCode != tc.want || e["error"] != tc.code {
			t.Errorf("%s: %s %s: %d %s, want %d %s", tc.name, tc.method, tc.path, resp.StatusCode, body, tc.want, tc.code)
		}
		if tc.want == 405 && resp.Header.Get("allow") != "POST, PUT" {
			t.Errorf("405 with Allow %q, want %q", resp.Header.Get("allow"), "POST, PUT")
		}
	}
	resp, b431 := sendBody(t, "GET", g.base+"/probe", map[string]string{"x-big": strings.Repeat("h", 5000), "x-refused": "yes"}, "", false)
	// Envoy cannot read the request's id from a head it refused.
	if resp.StatusCode != 431 || !strings.Contains(string(b431), `"error":"headers_too_large"`) {
		t.Errorf("a request head over max_headers: %d %s, want 431 headers_too_large", resp.StatusCode, b431)
	}

	// What the limits allow reaches the service: a small JSON body, with
	// parameters in its content type, and a chunked body under the limit.
	ok := map[string]string{"content-type": "Application/JSON; charset=utf-8"}
	for i, chunk := range []bool{false, true} {
		if resp, body := sendBody(t, "POST", g.base+"/upload", ok, `{"n":1}`, chunk); resp.StatusCode != 200 {
			t.Errorf("admitted request %d: %d %s, want 200 (refusals must not count against the limit of 2)", i+1, resp.StatusCode, body)
		}
	}
	if resp, _ := sendBody(t, "POST", g.base+"/upload", ok, `{}`, false); resp.StatusCode != 429 {
		t.Errorf("third request: %d, want 429 (the limit is on)", resp.StatusCode)
	}
	if resp, body := sendBody(t, "POST", g.base+"/stream", ok, strings.Repeat("y", 2000), true); resp.StatusCode != 200 {
		t.Errorf("a chunked body under the listener's limit: %d %s, want 200", resp.StatusCode, body)
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("the service received %d refused request(s)", n)
	}
}
