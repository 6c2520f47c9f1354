package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/envoy"
)

func TestBootstrapWritesTheGeneratorsOutputForOneProxy(t *testing.T) {
	out := filepath.Join(t.TempDir(), "envoy", "bootstrap.yaml")
	var stdout, stderr bytes.Buffer
	args := []string{"bootstrap", "--node-id", "edge-7", "--node-group", "edge", "--xds-addr", "tollgate.tollgate.svc:18000",
		"--admin-addr", "0.0.0.0:9901", "--tls-cert", "/etc/envoy/tls/tls.crt", "--tls-key", "/etc/envoy/tls/tls.key",
		"--tls-ca", "/etc/envoy/tls/ca.crt", "--output", out}
	if code := run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := envoy.Bootstrap(envoy.BootstrapConfig{NodeID: "edge-7", NodeGroup: "edge", XDSAddress: "tollgate.tollgate.svc:18000",
		AdminAddress: "0.0.0.0:9901", TLS: &envoy.TLSFiles{CertFile: "/etc/envoy/tls/tls.crt", KeyFile: "/etc/envoy/tls/tls.key", CAFile: "/etc/envoy/tls/ca.crt"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("tollgate bootstrap wrote:\n%s\nwant envoy.Bootstrap's:\n%s", got, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("with --output, stdout got %q", stdout.String())
	}
}

func TestBootstrapNodeIDDefaultsToTheHostName(t *testing.T) {
	c, err := parseBootstrap(nil, func() (string, error) { return "envoy-5f7d9-abcde", nil })
	if err != nil || c.NodeID != "envoy-5f7d9-abcde" || c.TLS != nil || c.output != "-" {
		t.Errorf("defaults: %+v, %v; want the host name as node id, no TLS, stdout", c, err)
	}
	if _, err := parseBootstrap(nil, func() (string, error) { return "", errors.New("no name") }); err == nil {
		t.Error("no node id and no host name: no error")
	}
}

func TestBootstrapRefusesBadFlagsAsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bootstrap", "--node-id", "n", "--xds-addr", "tollgate"},
		{"bootstrap", "--node-id", "n", "--tls-cert", "tls.crt", "--tls-key", "/k", "--tls-ca", "/ca"},
		{"bootstrap", "--node-id", "n", "--tls-cert", "/tls.crt"},
		{"bootstrap", "stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || !strings.HasPrefix(stderr.String(), "tollgate bootstrap: ") {
			t.Errorf("%v: exit %d, %q; want 2 with a usage error", args, code, stderr.String())
		}
	}
}
