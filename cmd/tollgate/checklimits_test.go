package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check shows the request limits and address lists that apply to a
// request, and what Envoy answers when they refuse it.
func TestCheckShowsRequestLimitsAndClientIPs(t *testing.T) {
	dir := t.TempDir()
	p := `listeners:
  - { name: a, port: 8080, request_limits: { max_body: 1MiB, max_headers: 8KiB }, client_ips: { deny: [203.0.113.0/24] } }
services: { s: { endpoints: ["127.0.0.1:9001"] } }
routes:
  - name: upload
    match: { path_prefix: /upload }
    to: s
    client_ips: { allow: [10.0.0.0/8] }
    request_limits: { max_body: 4KiB, methods: [POST], content_types: [application/json] }
  - { name: rest, to: s }
`
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--client-ip", "10.1.2.3", "POST", "/upload", "-H", "Content-Type: application/json"}, 0, []string{
			"inputs:    headers at most 8KiB (listener); body at most 4KiB (route); methods POST (else 405); content types application/json (else 415)",
			"addresses: listener denies 203.0.113.0/24; route allows 10.0.0.0/8 (else 403)",
		}},
		{[]string{"GET", "/upload"}, 1, []string{"answer:    405: route upload serves POST only: Envoy answers 405 with Allow: POST"}},
		{[]string{"POST", "/upload", "-H", "Content-Type: text/plain"}, 1, []string{"answer:    415: route upload reads application/json only"}},
		{[]string{"POST", "/upload", "-H", "Content-Type: application/json", "-H", "Content-Length: 5000"}, 1, []string{"answer:    413: Content-Length 5000 is over the 4KiB route upload accepts"}},
		{[]string{"--client-ip", "192.0.2.1", "GET", "/upload"}, 1, []string{"answer:    403: client address 192.0.2.1 is refused by route upload's client_ips"}},
		{[]string{"--client-ip", "203.0.113.9", "GET", "/x"}, 1, []string{
			"inputs:    headers at most 8KiB (listener); body at most 1MiB (listener)",
			"answer:    403: client address 203.0.113.9 is refused by listener a's client_ips",
		}},
		{[]string{"GET", "/x", "-H", "X-Big: " + strings.Repeat("b", 9000)}, 1, []string{"refused by Envoy (431, request headers larger than 8 KiB)"}},
		{[]string{"--policy", "../../examples/gateway", "GET", "/orders"}, 0, nil}, // no inputs line: nothing set

	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"check", "--policy", dir}, tc.args...), &out, &errOut)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d: %s%s", tc.args[:2], code, tc.code, out.String(), errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%v: missing %q in:\n%s", tc.args[:2], w, out.String())
			}
		}
		if tc.want == nil && strings.Contains(out.String(), "inputs:") {
			t.Errorf("%v: an inputs line without request limits:\n%s", tc.args[:2], out.String())
		}
	}
}
