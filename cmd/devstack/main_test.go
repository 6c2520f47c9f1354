package main

import (
	"reflect"
	"strings"
	"testing"
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
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthr"))
	if got, want := out.String(), "[x] one\n[x] two\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBannerNamesEverything(t *testing.T) {
	o, _ := parseFlags(nil)
	var out strings.Builder
	printBanner(&out, o, "http://127.0.0.1:9901")
	for _, want := range []string{"curl -s localhost:8080/orders", "http://127.0.0.1:18001/metrics",
		"http://127.0.0.1:9901/config_dump", "examples/gateway/*.yaml", "users 127.0.0.1:9004"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}
