package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkActionsPolicy = `
listeners: [{ name: public, port: 8080 }]
services:
  chat: { endpoints: [127.0.0.1:9001] }
  catalog: { endpoints: ["catalog.internal:8080"] }
routes:
  - { name: chat, match: { path_prefix: /chat }, to: chat, upgrades: [websocket] }
  - name: v2
    match: { path_prefix: /api/v2/ }
    to: catalog
    rewrite: { path_prefix: /, auto_host: true }
    deprecation: { since: 2026-01-01, sunset: 2026-06-30 }
  - { name: items, match: { path_regex: "^/items/([0-9]+)$" }, to: chat, rewrite: { path_regex: { pattern: "^/items/([0-9]+)$", substitution: '/catalog/\1' }, host: items.internal } }
  - { name: docs, match: { path_prefix: /docs }, redirect: { status: 301, scheme: https, host: docs.example.com, path_prefix: /manual } }
  - { name: v1, match: { path_prefix: /api/v1 }, respond: { status: 410, body: '{"error":"gone"}', content_type: application/json } }
`

func TestCheckShowsRouteActions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(checkActionsPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		target string
		want   []string
	}{
		{"http://api.example.com:8080/chat/room", []string{"upgrades:  websocket"}},
		{"http://api.example.com:8080/api/v2/orders?x=1", []string{
			"rewrite:   the service receives path /orders?x=1",
			"rewrite:   the service receives Host (the DNS name of the endpoint Envoy picks)",
			"upgrades:  none (an upgrade request gets 403)",
			"headers:   Deprecation: @1767225600",
			"           Sunset: Tue, 30 Jun 2026 00:00:00 GMT",
		}},
		{"http://api.example.com:8080/items/42", []string{"the service receives path /catalog/42", "the service receives Host items.internal"}},
		{"http://api.example.com:8080/docs/install?x=1", []string{"redirect:  301 to https://docs.example.com/manual/install?x=1 (Envoy answers; no service is called)"}},
		{"http://api.example.com:8080/api/v1/orders", []string{"respond:   410 (Envoy answers; no service is called), application/json, 16-byte body"}},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "--policy", dir, "GET", tc.target}, &out, &errOut); code != 0 {
			t.Fatalf("check %s: exit %d: %s", tc.target, code, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("check %s: missing %q in:\n%s", tc.target, w, out.String())
			}
		}
		if strings.Contains(tc.target, "/docs") && strings.Contains(out.String(), "timeouts:") {
			t.Errorf("check %s: a redirect has no timeouts:\n%s", tc.target, out.String())
		}
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--json", "--policy", dir, "GET", "http://api.example.com:8080/docs/a"}, &out, &errOut); code != 0 {
		t.Fatalf("check --json: exit %d: %s", code, errOut.String())
	}
	var res struct {
		Route struct {
			Redirect checkRedirect `json:"redirect"`
		} `json:"route"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Route.Redirect.Location != "https://docs.example.com/manual/a" {
		t.Errorf("check --json redirect: %+v %v\n%s", res, err, out.String())
	}
}
