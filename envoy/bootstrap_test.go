package envoy

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the committed bootstrap files")

// committedBootstraps are the files in this directory and the inputs they
// must be rendered from.
var committedBootstraps = map[string]BootstrapConfig{
	// For a local Envoy next to `tollgate serve` with its default flags:
	// what `tollgate bootstrap --node-id envoy-local` writes. Compose and
	// `make run` run the command instead of reading a committed file.
	"bootstrap.yaml": {
		NodeID:       "envoy-local",
		NodeGroup:    DefaultNodeGroup,
		XDSAddress:   DefaultXDSAddress,
		AdminAddress: DefaultAdminAddress,
	},
}

// TestCommittedBootstrapsAreRendered keeps the committed files from drifting
// away from the template.
func TestCommittedBootstrapsAreRendered(t *testing.T) {
	for file, c := range committedBootstraps {
		want, err := Bootstrap(c)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("envoy/%s differs from what Bootstrap renders; regenerate it with "+
				"`go test ./envoy -run TestCommittedBootstrapsAreRendered -update` and review the diff", file)
		}
	}
}

// TestCommittedBootstrapsValidate asks Envoy itself whether the files are
// valid, which no amount of string comparison can tell.
func TestCommittedBootstrapsValidate(t *testing.T) {
	bin := envoyOrSkip(t)
	for file := range committedBootstraps {
		out, err := exec.CommandContext(t.Context(), bin, "--mode", "validate", "-c", file,
			"--disable-hot-restart", "--log-level", "error").CombinedOutput()
		if err != nil {
			t.Errorf("envoy --mode validate %s: %v\n%s", file, err, out)
		}
	}
}

func TestBootstrapRendersChoices(t *testing.T) {
	tests := []struct {
		name string
		c    BootstrapConfig
		want []string
	}{
		{"IP address is static", BootstrapConfig{NodeID: "n"},
			[]string{"type: STATIC\n", `address: "127.0.0.1", port_value: 18000`, "api_type: GRPC\n"}},
		{"DNS name is resolved", BootstrapConfig{NodeID: "n", XDSAddress: "tollgate:18000"},
			[]string{"type: STRICT_DNS\n", "dns_lookup_family: V4_PREFERRED"}},
		{"delta", BootstrapConfig{NodeID: "n", Delta: true}, []string{"api_type: DELTA_GRPC\n"}},
		{"names are quoted", BootstrapConfig{NodeID: `a: "b"`, NodeGroup: "edge"},
			[]string{`id: "a: \"b\""`, `cluster: "edge"`}},
		{"admin port 0", BootstrapConfig{NodeID: "n", AdminAddress: "127.0.0.1:0"}, []string{"port_value: 0 }"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Bootstrap(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("bootstrap lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestBootstrapRejects(t *testing.T) {
	tests := []struct {
		name string
		c    BootstrapConfig
		want string
	}{
		{"no node id", BootstrapConfig{}, "node id is empty"},
		{"control characters", BootstrapConfig{NodeID: "a\nb"}, "control characters"},
		{"xDS without port", BootstrapConfig{NodeID: "n", XDSAddress: "tollgate"}, "want host:port"},
		{"xDS port 0", BootstrapConfig{NodeID: "n", XDSAddress: "127.0.0.1:0"}, "port must be"},
		{"admin port too big", BootstrapConfig{NodeID: "n", AdminAddress: "127.0.0.1:70000"}, "port must be"},
		{"bad host", BootstrapConfig{NodeID: "n", XDSAddress: "a b:1"}, "host must be"},
		{"negative connections", BootstrapConfig{NodeID: "n", MaxConnections: -1}, "must be positive"},
		{"relative TLS file", BootstrapConfig{NodeID: "n", TLS: &TLSFiles{CertFile: "c.pem", KeyFile: "/k.pem", CAFile: "/ca.pem"}}, "must be an absolute path"},
		{"TLS without CA", BootstrapConfig{NodeID: "n", TLS: &TLSFiles{CertFile: "/c.pem", KeyFile: "/k.pem"}}, "CA bundle: no file given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Bootstrap(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestTLSBootstrapValidates renders a bootstrap with mutual TLS to
// Tollgate, by IP address and by DNS name, and has Envoy validate it with
// real files: the secrets load and the xDS cluster's TLS context is valid.
func TestTLSBootstrapValidates(t *testing.T) {
	bin := envoyOrSkip(t)
	dir := t.TempDir()
	ca, err := testcerts.NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(testcerts.Options{CommonName: "envoy", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	files := &TLSFiles{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CAFile: filepath.Join(dir, "ca.crt")}
	if err := leaf.Write(files.CertFile, files.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(files.CAFile, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{"127.0.0.1:18000": "san_type: IP_ADDRESS", "tollgate:18000": `sni: "tollgate"`} {
		out, err := Bootstrap(BootstrapConfig{NodeID: "n", XDSAddress: addr, TLS: files})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(out), want) || !strings.Contains(string(out), "name: \"tollgate_client_cert\"") {
			t.Errorf("%s: bootstrap lacks %q or the client certificate secret:\n%s", addr, want, out)
		}
		file := filepath.Join(dir, "bootstrap.yaml")
		if err := os.WriteFile(file, out, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(t.Context(), bin, "--mode", "validate", "-c", file,
			"--disable-hot-restart", "--log-level", "error").CombinedOutput(); err != nil {
			t.Errorf("envoy --mode validate (%s): %v\n%s", addr, err, out)
		}
	}
}

// envoyOrSkip finds Envoy, skipping the test under -short or when Envoy
// is missing — except under CI, where a missing Envoy means the pipeline
// is broken (testenv.Require).
func envoyOrSkip(t *testing.T) string {
	t.Helper()
	return testenv.Require(t, "Envoy", "make deps-envoy", FindBinary)
}
