package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

func TestParseAndGroupServices(t *testing.T) {
	got, err := parseServices("orders=127.0.0.1:9001, users=127.0.0.1:9003,users=127.0.0.1:9004,")
	if err != nil {
		t.Fatal(err)
	}
	want := []serviceGroup{
		{"orders", []string{"127.0.0.1:9001"}},
		{"users", []string{"127.0.0.1:9003", "127.0.0.1:9004"}},
	}
	if g := groupServices(got); !reflect.DeepEqual(g, want) {
		t.Errorf("groups = %v, want %v", g, want)
	}
	for _, bad := range []string{"orders", "=127.0.0.1:1", "orders=9001"} {
		if _, err := parseServices(bad); err == nil {
			t.Errorf("parseServices(%q) accepted", bad)
		}
	}
}

func TestDefaultFlags(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.policy != "examples/gateway" || o.tollgate != "./bin/tollgate" || o.envoyAdminPort != 9901 || len(o.services) != 4 {
		t.Errorf("defaults = %+v", o)
	}
	if _, err := parseFlags([]string{"stray"}); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0:18000":   "127.0.0.1:18000",
		":18000":          "127.0.0.1:18000",
		"[::]:18000":      "127.0.0.1:18000",
		"127.0.0.1:18000": "127.0.0.1:18000",
		"tollgate:18000":  "tollgate:18000",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrefixWriterPrefixesWholeLines(t *testing.T) {
	var out strings.Builder
	w := &prefixWriter{prefix: []byte("[x] "), out: &out}
	for _, s := range []string{"one\ntw", "o\nthr"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "[x] one\n[x] two\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBannerNamesEverything(t *testing.T) {
	o, _ := parseFlags(nil)
	var out strings.Builder
	printBanner(&out, o, o.policy, "http://127.0.0.1:9901", demoKey{File: "examples/gateway/keys/keys.yaml", Plain: "tg_demo_SECRET"})
	for _, want := range []string{"curl -s localhost:8080/orders", "http://127.0.0.1:18001/metrics",
		"http://127.0.0.1:9901/config_dump", "examples/gateway/*.yaml", "users 127.0.0.1:9004",
		"curl -s -H 'X-API-Key: tg_demo_SECRET' localhost:8080/orders", "curl -s -X POST -H 'X-API-Key: tg_demo_SECRET' localhost:8080/orders"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}

// The example policy names a keys file that is not committed; devstack
// creates it with one demo key on the first start (hashes only), shows
// the key that once, and leaves an existing file alone.
func TestDemoKeyForTheExamplePolicy(t *testing.T) {
	dir := copyExample(t)
	k, err := ensureDemoKey(dir, time.Now())
	if err != nil || k.File != filepath.Join(dir, "keys", "keys.yaml") {
		t.Fatalf("ensureDemoKey: %+v %v", k, err)
	}
	if id, err := authz.ParseKey(k.Plain); err != nil || id != "demo" {
		t.Fatalf("demo key %q: id %q, %v", k.Plain, id, err)
	}
	data, err := os.ReadFile(k.File)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), k.Plain) || strings.Contains(string(data), k.Plain[len(k.Plain)-32:]) {
		t.Errorf("the keys file holds the plaintext key:\n%s", data)
	}
	kf, err := authz.ParseKeysFile(k.File, data)
	if err != nil || len(kf.Keys) != 1 || kf.Keys[0].Tier != "gold" {
		t.Fatalf("keys file: %+v %v", kf, err)
	}
	again, err := ensureDemoKey(dir, time.Now())
	if err != nil || again.Plain != "" || again.File != k.File {
		t.Errorf("second start: %+v %v", again, err)
	}
	if lines := again.bannerLines("localhost:8080"); !strings.Contains(lines, "tollgate keys new") || strings.Contains(lines, "tg_") {
		t.Errorf("second banner: %s", lines)
	}
}

// `make run PORT=...` reaches devstack: the Makefile's devstack command,
// as make would run it, parses into options with every port moved.
func TestMakeRunPassesItsPortsToDevstack(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cmd := exec.Command("make", "-n", "--no-print-directory", "run", "GATEWAY_PORT=18081", "GRPC_PORT=18100", "ADMIN_PORT=18101",
		"ENVOY_ADMIN_PORT=19901", "SERVICE_PORTS=19001 19002 19003 19004", "ENVOY_BIN=/bin/true")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	script := strings.ReplaceAll(string(out), "\\\n", " ")
	var args []string
	for _, line := range strings.Split(script, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && strings.HasSuffix(fields[0], "/devstack") {
			args = fields[1:]
		}
	}
	if args == nil {
		t.Fatalf("no devstack command in:\n%s", out)
	}
	o, err := parseFlags(args)
	if err != nil {
		t.Fatalf("devstack %v: %v", args, err)
	}
	var services []string
	for _, s := range o.services {
		services = append(services, s.name+"="+s.addr)
	}
	if o.gatewayAddr != "127.0.0.1:18081" || o.grpcAddr != "127.0.0.1:18100" || o.adminAddr != "127.0.0.1:18101" || o.envoyAdminPort != 19901 ||
		strings.Join(services, ",") != "orders=127.0.0.1:19001,orders-v2=127.0.0.1:19002,users=127.0.0.1:19003,users=127.0.0.1:19004" {
		t.Errorf("make run passes %+v", o)
	}
}
