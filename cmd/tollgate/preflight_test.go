package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/preflight"
)

// The example policy is what `make run` serves and what people copy: it
// passes every static item of the checklist.
func TestPreflightPassesOnTheExample(t *testing.T) {
	out, errOut, code := runCmd(t, "preflight", "--policy", "../../examples/gateway")
	if code != 0 || !strings.Contains(out, "preflight passed") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCmd(t, "preflight", "--json", "--policy", "../../examples/gateway")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errOut)
	}
	var rep preflight.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, r := range rep.Items {
		if r.Status == preflight.Fail {
			t.Errorf("%s failed: %+v", r.ID, r.Findings)
		}
		if r.Status == preflight.Pass {
			passed++
		}
	}
	if !rep.Passed || passed < 6 {
		t.Errorf("passed %v with %d items passing, want true and at least 6:\n%s", rep.Passed, passed, out)
	}
}

// A failing item exits 1 and names the file:line:col to change, in the
// table and in JSON.
func TestPreflightFailsWithTheLocation(t *testing.T) {
	dir := t.TempDir()
	writeTestPolicy(t, filepath.Join(dir, "gateway.yaml"), `listeners: [{ name: public, port: 8080 }]
services:
  api: { endpoints: [127.0.0.1:9001], timeout: 1s, circuit_breaker: { max_requests: 10 }, outlier_detection: { consecutive_5xx: 5 } }
routes:
  - { name: api, match: { path_prefix: / }, to: api }
`)
	out, _, code := runCmd(t, "preflight", "--policy", dir)
	want := filepath.Join(dir, "gateway.yaml") + ":5:5: route api lets anonymous callers in without a per-IP limit"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "rate-limits            FAIL") {
		t.Errorf("exit %d, want 1 and %q in:\n%s", code, want, out)
	}
	out, _, _ = runCmd(t, "preflight", "--json", "--policy", dir)
	var rep preflight.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Passed || rep.Items[0].Status != preflight.Fail ||
		rep.Items[0].Findings[0].At != filepath.Join(dir, "gateway.yaml")+":5:5" {
		t.Errorf("JSON: %v %+v", err, rep)
	}
}

func TestPreflightFollowsTheCommandLineConvention(t *testing.T) {
	const example = "../../examples/gateway"
	for _, args := range [][]string{
		{"preflight"},
		{"preflight", "--policy", example, "stray"},
		{"preflight", "--policy", example, "--load", "10/s"},
		{"preflight", "--policy", example, "--gateway", "ftp://127.0.0.1:1"},
		{"preflight", "--policy", example, "--gateway", "http://127.0.0.1:1", "--load", "fast"},
		{"preflight", "--policy", example, "--gateway", "http://127.0.0.1:1", "--load", "1000/s", "--duration", "1m"},
		{"preflight", "--policy", example, "--gateway", "http://127.0.0.1:1", "--load", "1", "--duration", "2m"},
		{"preflight", "--policy", example, "--request", "nopath"},
	} {
		out, errOut, code := runCmd(t, args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "tollgate preflight: ") || !strings.Contains(errOut, "run 'tollgate preflight -h' for usage") {
			t.Errorf("%q: exit %d, want 2 and a usage error; stdout %q stderr %q", args, code, out, errOut)
		}
	}
	if out, _, code := runCmd(t, "preflight", "-h"); code != 0 || !strings.HasPrefix(out, "Usage: tollgate preflight") {
		t.Errorf("-h: exit %d %q", code, out)
	}
	if _, errOut, code := runCmd(t, "preflight", "--policy", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.HasPrefix(errOut, "tollgate preflight: ") {
		t.Errorf("missing policy: exit %d %q", code, errOut)
	}
}

func writeTestPolicy(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
