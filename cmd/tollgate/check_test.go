package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckNamesTheRouteAndWhy(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"check", "--policy", "../../examples/gateway", "GET", "http://api.example.com:8080/ORDERS//42?x=1", "-H", "X-Beta: false"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{
		"request:   GET api.example.com:8080 /ORDERS//42?x=1 on listener public",
		"matched as /ORDERS/42?x=1",
		"route:     orders (../../examples/gateway/routes.yaml:25:5)",
		"because:   path_prefix /orders (any case); methods GET, HEAD",
		"to:        orders (weight 90, 90%), orders-v2 (weight 10, 10%)",
		"timeouts:  timeout 3s; retries: none",
		"auth:      accept anonymous, api_key",
		"per-ip-anonymous: after_auth, key client_ip, sliding_window 20 per 1m0s, when anonymous",
		"gold-per-client: after_auth, key client_id, token_bucket 100/1s, burst 200, when tier:gold",
		"orders-total: after_auth, key route, token_bucket 500/1s, burst 1000, shadow (never refuses)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}

func TestCheckJSONAndNoMatch(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--json", "--policy", "../../examples/gateway", "POST", "/orders"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res checkResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	r := res.Route
	if r == nil || r.Name != "create-order" || r.Auth.Public || strings.Join(r.Auth.Scopes, ",") != "orders:write" ||
		len(r.RateLimits) == 0 || r.RateLimits[0].Stage != "before_auth" || r.To[0].Service != "orders" {
		t.Errorf("got %s", out.String())
	}

	out.Reset()
	if code := run([]string{"check", "--policy", "../../examples/gateway", "DELETE", "/nothing"}, &out, &errOut); code != 1 {
		t.Errorf("no match: exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), "no route matches: Envoy answers 404") {
		t.Errorf("no match: got %q", out.String())
	}
	out.Reset()
	if code := run([]string{"check", "--policy", "../../examples/gateway", "GET", "/a%00"}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "(400)") {
		t.Errorf("refused path: exit %d, %q", code, out.String())
	}
}

func TestCheckPicksTheListenerAndTheHost(t *testing.T) {
	dir := t.TempDir()
	p := "listeners:\n  - { name: a, port: 8080, hosts: [a.example.com] }\n  - { name: b, port: 9090 }\n" +
		"services: { s: { endpoints: [127.0.0.1:9001] } }\nroutes: [{ name: r, to: s, listeners: [a] }, { name: rb, to: s, listeners: [b] }]\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		code  int
		route string
	}{
		{[]string{"GET", "http://a.example.com:8080/x"}, 0, "route:     r "}, // by the URL's port
		{[]string{"GET", "http://b.example.com:8080/x"}, 1, "is not among listener a's hosts"},
		{[]string{"--listener", "b", "GET", "/x"}, 0, "route:     rb "},
		{[]string{"--listener", "a", "GET", "/x", "-H", "Host: A.example.com"}, 0, "route:     r "},
		{[]string{"GET", "/x"}, 2, ""}, // several listeners, none named
		{[]string{"--listener", "c", "GET", "/x"}, 2, ""},
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"check", "--policy", dir}, tc.args...), &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.route) {
			t.Errorf("check %v: exit %d, want %d; output %q %q", tc.args, code, tc.code, out.String(), errOut.String())
		}
	}
}

func TestCheckUsageAndPolicyErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("routes:\n  - { name: a, to: missing }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check"}, {"check", "GET", "/"}, {"check", "--policy", dir}, {"check", "--policy", "../../examples/gateway", "GET", "nopath"},
		{"check", "--policy", "../../examples/gateway", "-H", "novalue", "GET", "/"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("tollgate %v: exit %d, want 2", args, code)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--policy", dir, "GET", "/"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), filepath.Join(dir, "p.yaml")+`:2:20: routes.a.to[0].service: unknown service "missing"`) {
		t.Errorf("policy error: exit %d, stderr %q", code, errOut.String())
	}
}

// tollgate check says what Envoy answers a request it refuses itself, and
// routes on what Envoy reads from the request's bytes.
func TestCheckSaysWhatEnvoyRefusesAndReadsTheBytes(t *testing.T) {
	dir := t.TempDir()
	p := "listeners: [{ name: a, port: 8080 }]\nservices: { s: { endpoints: [127.0.0.1:9001] } }\n" +
		"routes:\n  - { name: host, match: { hosts: [api.example.com] }, to: s }\n  - { name: any, to: s }\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "req.http")
	if err := os.WriteFile(raw, []byte("GET http://api.example.com/x HTTP/1.1\r\nHost: evil.com\r\n\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"GET", "/x#frag"}, 1, "refused by Envoy (400, the request target holds a fragment (#))"},
		{[]string{"get", "/x"}, 1, "refused by Envoy (400, unknown method"},
		{[]string{"GET", "/x", "-H", "x_tenant: a"}, 1, "refused by Envoy (400, header \"x_tenant\" has an underscore"},
		{[]string{"GET", "/caf\xc3\xa9"}, 1, "refused by Envoy (400, the request target holds byte 0xc3"},
		{[]string{"GET", "/" + strings.Repeat("a", 70<<10)}, 1, "refused by Envoy (431"},
		{[]string{"GET", "http://api.example.com/x"}, 0, "route:     host "},
		{[]string{"GET", "/x", "-H", "Host: evil.com", "-H", "Host: api.example.com"}, 0, "route:     any "}, // "evil.com,api.example.com"
		{[]string{"--raw", raw}, 0, "route:     host "},                                                      // the URL's host, not Host
	} {
		var out, errOut bytes.Buffer
		code := run(append([]string{"check", "--policy", dir}, tc.args...), &out, &errOut)
		if code != tc.code || !strings.Contains(out.String(), tc.want) {
			t.Errorf("check %.60q: exit %d, want %d; output %q %q", tc.args, code, tc.code, out.String(), errOut.String())
		}
	}
}
