package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const checkTrafficPolicy = `listeners:
  - { name: public, port: 8080, compression: { algorithms: [brotli, gzip], min_size: 512, content_types: [application/json] } }
services:
  orders: { endpoints: [127.0.0.1:9001] }
  orders-v2: { endpoints: [127.0.0.1:9002] }
routes:
  - name: orders
    match: { path_prefix: /orders }
    to: orders
    mirror: { service: orders-v2, percent: 12.5 }
    fault: { delay: { duration: 2s, percent: 10 }, abort: { status: 503 }, header: { name: x-game-day, exact: "on" } }
  - { name: events, match: { path_prefix: /events }, to: orders, compression: { disabled: true } }
`

func TestCheckShowsMirrorFaultAndCompression(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(checkTrafficPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]string{
		"/orders/1": {
			"mirror:    12.5% to orders-v2 (answers dropped)",
			`fault:     delay 2s for 10%, abort 503 for 100% of requests with header x-game-day = "on"`,
			"compress:  brotli, gzip, responses of 512 bytes or more of application/json",
		},
		"/events": {"compress:  off"},
	} {
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "--policy", dir, "GET", path}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", path, code, errOut.String())
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: missing %q in:\n%s", path, w, out.String())
			}
		}
		if path == "/events" && strings.Contains(out.String(), "mirror:") {
			t.Errorf("%s: a mirror that does not apply:\n%s", path, out.String())
		}
	}
}
