package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkHeadersPolicy = `listeners:
  - name: public
    port: 8080
    headers: { request: { set: [{ name: x-gateway, value: "${client_ip}" }] }, response: { remove: [x-powered-by] } }
    cors: { allow_origins: [https://app.example.com, "https://*.partner.test"], allow_methods: [GET], allow_credentials: true, max_age: 10m }
services: { s: { endpoints: [127.0.0.1:9001] } }
routes:
  - name: orders
    match: { path_prefix: /orders }
    to: s
    headers: { request: { set: [{ name: x-route, value: "${route}" }], add: [{ name: x-tag, value: a }], remove: [cookie] } }
  - { name: widget, match: { path_prefix: /widget }, to: s, cors: { allow_origins: ["*"] } }
`

// tollgate check lists the header changes and the cors setting that
// apply to a request, the listener's before the route's, and what Envoy
// answers a preflight.
func TestCheckShowsHeaderChangesAndCORS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(checkHeadersPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"GET", "/orders"}, []string{
			"headers:   request set x-gateway: \"${client_ip}\" (listener public)\n" +
				"           response remove x-powered-by (listener public)\n" +
				"           request remove cookie (route orders)\n" +
				"           request set x-route: \"${route}\" (route orders)\n" +
				"           request add x-tag: \"a\" (route orders)\n",
			"cors:      origins https://app.example.com, https://*.partner.test; methods GET; max age 10m0s; credentials (listener public)",
		}},
		{[]string{"OPTIONS", "/orders", "-H", "Origin: https://shop.partner.test", "-H", "Access-Control-Request-Method: GET"}, []string{
			"preflight: Envoy answers it (200), allowing the origin; it never reaches auth, limits or the service",
		}},
		{[]string{"OPTIONS", "/orders", "-H", "Origin: https://evil.test", "-H", "Access-Control-Request-Method: GET"}, []string{
			"preflight: Envoy answers it (200) without Access-Control-Allow-Origin: the origin is not allowed",
		}},
		{[]string{"GET", "/widget"}, []string{"cors:      origins * (route widget)"}},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"check", "--policy", dir}, tc.args...), &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.args, code, errOut.String())
		}
		for _, want := range tc.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: missing %q in:\n%s", tc.args, want, out.String())
			}
		}
	}
}
