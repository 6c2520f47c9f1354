package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/testcerts"
)

// diffBefore and diffAfter are a change that adds a route (with a rate
// limit) and removes a service (and the route to it).
const diffBefore = `listeners: [{ name: public, port: 8080 }]
services:
  s1: { endpoints: [127.0.0.1:9001] }
  s2: { endpoints: [127.0.0.1:9002] }
rate_limits:
  per-ip: { key: [client_ip], token_bucket: { rate: 10/s, burst: 20 } }
routes:
  - { name: r1, match: { path_prefix: /one }, to: s1, auth: { public: true } }
  - { name: r2, match: { path_prefix: /two }, to: s2, auth: { public: true } }
`

const diffAfter = `listeners: [{ name: public, port: 8080 }]
services:
  s1: { endpoints: [127.0.0.1:9001] }
rate_limits:
  per-ip: { key: [client_ip], token_bucket: { rate: 10/s, burst: 20 } }
routes:
  - { name: r1, match: { path_prefix: /one }, to: s1, auth: { public: true } }
  - { name: r3, match: { path_prefix: /three }, to: s1, auth: { public: true }, rate_limits: [per-ip] }
`

// wantDiffText is what diff prints for diffBefore -> diffAfter, after the
// two header lines.
var wantDiffText = []string{
	"envoy resources, group default:",
	"  ~ route public",
	"      virtualHosts[public].routes[r2]: {\"match\":{\"caseSensitive\":false,\"prefix\":\"/two\"},",
	"      virtualHosts[public].routes[r3]: (none) -> {\"match\":{\"caseSensitive\":false,\"prefix\":\"/three\"},",
	"  - cluster s2",
	"  - endpoint s2",
	"auth and limits:",
	"  - route r2",
	"      auth: {\"public\":true} -> (none)",
	"  + route r3",
	"      rate_limits: (none) -> [\"per-ip\"]",
	"      auth: (none) -> {\"public\":true}",
	"5 change(s)",
}

func writePolicy(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runDiffCmd runs tollgate diff and returns its exit code and output.
func runDiffCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"diff"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func checkDiffText(t *testing.T, code int, out, errOut string) {
	t.Helper()
	if code != 1 {
		t.Fatalf("exit %d, want 1 (changes); stderr %s", code, errOut)
	}
	for _, want := range wantDiffText {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func checkDiffJSON(t *testing.T, code int, out, errOut string) {
	t.Helper()
	if code != 1 {
		t.Fatalf("exit %d, want 1 (changes); stderr %s", code, errOut)
	}
	var r diffReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	var got []string
	for _, c := range r.Envoy {
		got = append(got, c.Group+" "+c.Type+" "+c.Name+" "+c.Change)
	}
	for _, c := range r.Policy {
		got = append(got, c.Kind+" "+c.Name+" "+c.Change)
	}
	want := "default route public changed|default cluster s2 removed|default endpoint s2 removed|route r2 removed|route r3 added"
	if strings.Join(got, "|") != want || r.Changes != 5 {
		t.Errorf("got %d changes %q, want %q", r.Changes, strings.Join(got, "|"), want)
	}
	paths := map[string]bool{}
	for _, f := range r.Envoy[0].Fields {
		paths[f.Path] = true
	}
	if !paths["virtualHosts[public].routes[r3]"] || !paths["virtualHosts[public].routes[r2]"] || len(paths) != 2 {
		t.Errorf("route public: fields %v", paths)
	}
}

func TestDiffDirectories(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	writePolicy(t, a, diffBefore)
	writePolicy(t, b, diffAfter)

	code, out, errOut := runDiffCmd(t, a, b)
	checkDiffText(t, code, out, errOut)
	if !strings.HasPrefix(out, "--- "+a+"\n+++ "+b+"\n") {
		t.Errorf("header: %q", out)
	}
	code, out, errOut = runDiffCmd(t, "--json", a, b)
	checkDiffJSON(t, code, out, errOut)

	code, out, _ = runDiffCmd(t, a, a)
	if code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("same policy: exit %d, %q; want 0 and no changes", code, out)
	}
}

func TestDiffGitRevisions(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	repo := t.TempDir()
	dir := filepath.Join(repo, "deploy", "policy")
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	writePolicy(t, dir, diffBefore)
	git("add", ".")
	git("commit", "-qm", "before")
	writePolicy(t, dir, diffAfter)

	// HEAD against the edited working tree.
	code, out, errOut := runDiffCmd(t, "--policy", dir, "HEAD")
	checkDiffText(t, code, out, errOut)
	code, out, errOut = runDiffCmd(t, "--policy", dir, "--json", "HEAD")
	checkDiffJSON(t, code, out, errOut)

	// Two revisions, once committed; the tree now equals HEAD.
	git("commit", "-qam", "after")
	code, out, errOut = runDiffCmd(t, "--policy", dir, "HEAD~1", "HEAD")
	checkDiffText(t, code, out, errOut)
	if code, out, _ := runDiffCmd(t, "--policy", dir, "HEAD"); code != 0 {
		t.Errorf("HEAD against the same tree: exit %d, want 0:\n%s", code, out)
	}
	// A revision whose policy does not load: its positions name the
	// revision, not a temporary copy.
	writePolicy(t, dir, "listeners: [{ name: public, port: nope }]\n")
	git("commit", "-qam", "broken")
	code, _, errOut = runDiffCmd(t, "--policy", dir, "HEAD", dir)
	if want := "HEAD:" + dir + "/gateway.yaml:1:"; code != 2 || !strings.Contains(errOut, want) {
		t.Errorf("broken revision: exit %d, stderr %q; want 2 and %q", code, errOut, want)
	}
	code, _, errOut = runDiffCmd(t, "--policy", dir, "--", "--output=x")
	if code != 2 || !strings.Contains(errOut, "neither a directory nor a git revision") {
		t.Errorf("an option as revision: exit %d, stderr %q; want 2", code, errOut)
	}
	code, _, errOut = runDiffCmd(t, "--policy", dir, "no-such-rev")
	if code != 2 || !strings.Contains(errOut, "neither a directory nor a git revision") {
		t.Errorf("unknown revision: exit %d, stderr %q; want 2", code, errOut)
	}
}

// Trouble is exit 2, since 1 means "changes": a policy that does not load
// (with its file:line), a usage error.
func TestDiffErrorsExitTwo(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	writePolicy(t, a, diffBefore)
	writePolicy(t, b, "listeners: [{ name: public, port: nope }]\n")
	if code, _, errOut := runDiffCmd(t, a, b); code != 2 || !strings.Contains(errOut, "gateway.yaml:1:") {
		t.Errorf("bad policy: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runDiffCmd(t); code != 2 {
		t.Errorf("no argument: exit %d, want 2", code)
	}
}

// A rotated certificate shows as a changed secret, by name: its content
// (key material) is never printed.
func TestDiffSecretsByNameOnly(t *testing.T) {
	ca, err := testcerts.NewCA("diff-ca")
	if err != nil {
		t.Fatal(err)
	}
	policyFile := `listeners:
  - name: public
    port: 8443
    tls: { certificates: [{ cert: api.pem, key: api-key.pem }] }
services:
  s: { endpoints: [127.0.0.1:9001] }
routes:
  - { name: r, match: { path_prefix: / }, to: s, auth: { public: true } }
`
	var dirs []string
	for range 2 {
		dir := t.TempDir()
		leaf, err := ca.Issue(testcerts.Options{CommonName: "api", DNSNames: []string{"api.example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := leaf.Write(filepath.Join(dir, "api.pem"), filepath.Join(dir, "api-key.pem")); err != nil {
			t.Fatal(err)
		}
		writePolicy(t, dir, policyFile)
		dirs = append(dirs, dir)
	}
	code, out, errOut := runDiffCmd(t, dirs[0], dirs[1])
	if code != 1 || !strings.Contains(out, "  ~ secret listener/public/cert/0\n      content changed (not shown)\n") {
		t.Errorf("exit %d (stderr %q):\n%s", code, errOut, out)
	}
	_, js, _ := runDiffCmd(t, "--json", dirs[0], dirs[1])
	if !strings.Contains(js, `"type": "secret"`) {
		t.Errorf("json:\n%s", js)
	}
	for _, s := range []string{out, js} {
		if strings.Contains(s, "BEGIN") || strings.Contains(s, "PRIVATE") {
			t.Errorf("key material in the output:\n%s", s)
		}
	}
}
