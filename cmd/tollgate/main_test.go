package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateExampleIsValid(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "../../examples/gateway"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "ok: 1 listener(s), 3 service(s), 5 route(s); version ") {
		t.Errorf("stdout = %q", out.String())
	}
}

func TestValidateReportsEveryErrorWithItsPosition(t *testing.T) {
	dir := t.TempDir()
	bad := "listeners: [{ name: public, port: 8080 }]\nroutes:\n  - { name: a, to: missing }\n  - { name: b, to: a, prot: 1 }\n"
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", dir}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	file := filepath.Join(dir, "routes.yaml")
	for _, want := range []string{
		file + `:3:20: routes.a.to[0].service: unknown service "missing"`,
		file + `:4:20: routes.b.to[0].service: unknown service "a"`,
		file + `:4:23: routes[1].prot: unknown field "prot"`,
		"3 error(s); the policy is not valid",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("missing %q in:\n%s", want, errOut.String())
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"validate"}, {"serve"}, {"serve", "--policy", "x", "--only", "nope"}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("tollgate %v: exit %d, want 2", args, code)
		}
	}
}
