package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// copyExample copies examples/gateway into a new directory.
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("../../examples/gateway/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("example policy: %v %v", files, err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Other ports for `make run` move the example policy's listener and
// endpoints in a copy, value by value: every other line stays as written,
// the original is untouched, and an edit of the original reaches the copy.
func TestPolicyCopyMovesTheExamplePorts(t *testing.T) {
	src := copyExample(t)
	o, err := parseFlags([]string{"--policy", src, "--gateway", "127.0.0.1:18081",
		"--services", "orders=127.0.0.1:19001,orders-v2=127.0.0.1:19002,users=127.0.0.1:19003,users=127.0.0.1:19004"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(src, "gateway.yaml"))
	c := &policyCopy{src: src, dir: t.TempDir(), gateway: o.gatewayAddr, services: o.services}
	if err := c.render(); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	if p.Listeners[0].Port != 18081 {
		t.Errorf("listener port %d, want 18081", p.Listeners[0].Port)
	}
	for name, want := range map[string][]string{"orders": {"127.0.0.1:19001"}, "orders-v2": {"127.0.0.1:19002"}, "users": {"127.0.0.1:19003", "127.0.0.1:19004"}} {
		var got []string
		for _, e := range p.Services[name].Endpoints {
			got = append(got, e.Address)
		}
		if !slices.Equal(got, want) {
			t.Errorf("service %s endpoints %v, want %v", name, got, want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(src, "gateway.yaml"))
	copied, _ := os.ReadFile(filepath.Join(c.dir, "gateway.yaml"))
	if string(after) != string(before) {
		t.Error("the original policy was changed")
	}
	if strings.Count(string(copied), "\n") != strings.Count(string(before), "\n") || !strings.Contains(string(copied), "    port: 18081\n") {
		t.Errorf("copy:\n%s", copied)
	}
	// An edit of the original reaches the copy, ports still moved.
	edited := strings.Replace(string(before), "connect_timeout: 1s", "connect_timeout: 2s", 1)
	if err := os.WriteFile(filepath.Join(src, "gateway.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.render(); err != nil {
		t.Fatal(err)
	}
	copied, _ = os.ReadFile(filepath.Join(c.dir, "gateway.yaml"))
	if !strings.Contains(string(copied), "connect_timeout: 2s") || !strings.Contains(string(copied), "127.0.0.1:19001") {
		t.Errorf("copy after the edit:\n%s", copied)
	}
}

// With devstack's default ports the example is served as it is.
func TestDefaultPortsServeTheExampleItself(t *testing.T) {
	o, err := parseFlags([]string{"--policy", "../../examples/gateway"})
	if err != nil {
		t.Fatal(err)
	}
	dir, cleanup, err := servedPolicy(t.Context(), o)
	defer cleanup()
	if err != nil || dir != o.policy {
		t.Errorf("served %q, %v; want the policy itself", dir, err)
	}
}

// On other ports, a policy that does not load yet is copied as it is (for
// tollgate to report) and gets its ports moved once it is fixed.
func TestPolicyCopyMovesThePortsOnceThePolicyIsFixed(t *testing.T) {
	src := copyExample(t)
	good, _ := os.ReadFile(filepath.Join(src, "gateway.yaml"))
	if err := os.WriteFile(filepath.Join(src, "gateway.yaml"), append(good, "bogus: 1\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"--policy", src, "--gateway", "127.0.0.1:18081"})
	if err != nil {
		t.Fatal(err)
	}
	dir, cleanup, err := servedPolicy(t.Context(), o)
	defer cleanup()
	if err != nil || dir == src {
		t.Fatalf("served %q, %v; want a copy", dir, err)
	}
	if err := os.WriteFile(filepath.Join(src, "gateway.yaml"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		p, err := policy.Load(dir)
		if err == nil && p.Listeners[0].Port == 18081 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the copy did not follow the fix: %v", err)
		}
	}
}
