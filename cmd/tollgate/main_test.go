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

func TestValidateRefusesAPolicyWithoutListenersAsServeDoes(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "reload_guard: { allow_no_listeners: true }") {
		t.Errorf("validate of an empty file: exit %d, %q; want 1 saying how to allow no listeners", code, errOut.String())
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

// Valid but probably not meant: validate passes and says so.
func TestValidateNotesMissingKeysFileAndUnknownTiers(t *testing.T) {
	dir := t.TempDir()
	policyYAML := "listeners: [{ name: public, port: 8080 }]\nservices: { api: { endpoints: [127.0.0.1:9001] } }\n" +
		"auth: { api_keys: { file: keys/keys.yaml, optional: true } }\nroutes: [{ name: r, to: api }]\n" +
		"tiers: { gold: { rate_limits: [] } }\n"
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(policyYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "keys.yaml does not exist (auth.api_keys optional: true)") {
		t.Fatalf("missing optional keys file: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	keysFile := filepath.Join(dir, "keys", "keys.yaml")
	for _, tier := range []string{"gold", "glod"} {
		if code := run([]string{"keys", "new", "--id", "k-" + tier, "--tier", tier, "--file", keysFile}, &out, &errOut); code != 0 {
			t.Fatalf("keys new: %s", errOut.String())
		}
	}
	out.Reset()
	if code := run([]string{"validate", dir}, &out, &errOut); code != 0 || !strings.Contains(out.String(), `key "k-glod" has tier "glod", which tiers: does not declare`) || strings.Contains(out.String(), `"k-gold"`) {
		t.Errorf("undeclared tier: exit %d\n%s", code, out.String())
	}
}

func TestEveryComponentHasABuilder(t *testing.T) {
	for _, name := range componentNames {
		if builders[name] == nil {
			t.Errorf("component %q has no builder", name)
		}
	}
	if len(builders) != len(componentNames) {
		t.Errorf("%d builders for %d component names", len(builders), len(componentNames))
	}
}
