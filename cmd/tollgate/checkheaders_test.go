package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckShowsRateLimitHeaders: when limits apply to a request, check
// says which rate-limit fields its responses carry and which limits add
// them to admitted responses.
func TestCheckShowsRateLimitHeaders(t *testing.T) {
	base := "listeners: [{ name: a, port: 8080 }]\nservices: { s: { endpoints: [127.0.0.1:9001] } }\n" +
		"routes:\n  - { name: limited, match: { path_prefix: /l }, to: s, rate_limits: [quiet, told] }\n  - { name: open, to: s }\n" +
		"rate_limits:\n  quiet: { key: [client_ip], fixed_window: { limit: 5, window: 1m } }\n" +
		"  told: { key: [client_ip], fixed_window: { limit: 50, window: 1h }, headers: true }\n"
	for _, tc := range []struct {
		setting, path, want, json string
	}{
		{"", "/l", "headers:   draft (RateLimit-Policy, RateLimit): on a 429, and on admitted responses for told", "draft"},
		{"rate_limit_headers: legacy\n", "/l", "headers:   legacy (RateLimit-Limit, -Remaining, -Reset, draft-06 RateLimit-Policy): on a 429, and on admitted responses for told", "legacy"},
		{"rate_limit_headers: both\n", "/l", "headers:   both (RateLimit-Policy, RateLimit, RateLimit-Limit, -Remaining, -Reset):", "both"},
		{"rate_limit_headers: none\n", "/l", "headers:   none (Retry-After only, on a 429)", "none"},
		{"", "/x", "", ""},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(base+tc.setting), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "--policy", dir, "GET", tc.path}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.setting, code, errOut.String())
		}
		if got := strings.Contains(out.String(), "headers:"); got != (tc.want != "") || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q %s: want %q in:\n%s", tc.setting, tc.path, tc.want, out.String())
		}
		out.Reset()
		if code := run([]string{"check", "--json", "--policy", dir, "GET", tc.path}, &out, &errOut); code != 0 {
			t.Fatalf("%s: --json exit %d: %s", tc.setting, code, errOut.String())
		}
		var res checkResult
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Route == nil || res.Route.RateLimitHeaders != tc.json {
			t.Errorf("%q %s: --json rate_limit_headers: got %s (%v), want %q", tc.setting, tc.path, out.String(), err, tc.json)
		}
	}
}
