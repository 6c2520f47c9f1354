package policy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// keysAndTLSPolicy is a policy that reads every kind of file a policy may
// name: a keys file, a JWKS file, a certificate, its key and a CA bundle.
func keysAndTLSPolicy(t *testing.T) string {
	t.Helper()
	dir := tlsFiles(t, validTLSPolicy+`
auth:
  api_keys: { file: keys/keys.yaml }
  jwt: [{ issuer: https://idp, jwks_file: keys/jwks.json }]
`)
	writeKeys(t, dir, "keys: []\n")
	if err := os.WriteFile(filepath.Join(dir, "keys", "jwks.json"), []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadInputsRebuildsTheSameGenerationWithoutTheDisk(t *testing.T) {
	dir := keysAndTLSPolicy(t)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := p.Inputs()
	for _, f := range []string{"bad.yaml", "keys/keys.yaml", "keys/jwks.json", "certs/api.pem", "certs/api-key.pem", "certs/ca.pem"} {
		if _, ok := in[filepath.Join(dir, f)]; !ok {
			t.Errorf("Inputs lack %s; have %v", f, slices.Sorted(maps.Keys(in)))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	q, err := LoadInputs(p.Files, maps.Clone(in))
	if err != nil {
		t.Fatal(err)
	}
	if q.Version != p.Version || !slices.Equal(q.Files, p.Files) || !slices.Equal(q.TLSDirs(), p.TLSDirs()) {
		t.Errorf("rebuilt version %s files %v, want %s %v", q.Version, q.Files, p.Version, p.Files)
	}
	if string(q.Auth.APIKeys.Data) != "keys: []\n" || q.Auth.APIKeys.Path != p.Auth.APIKeys.Path || len(q.Listeners[0].TLS.Certificates[0].KeyPEM) == 0 {
		t.Error("the rebuilt generation lacks the keys file or the private key")
	}
}

func TestLoadInputsReportsAMissingInputAsTheDiskWould(t *testing.T) {
	dir := keysAndTLSPolicy(t)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	in := maps.Clone(p.Inputs())
	delete(in, filepath.Join(dir, "keys", "keys.yaml"))
	if _, err := LoadInputs(p.Files, in); err == nil {
		t.Error("a generation missing its keys file was rebuilt")
	}
}

func TestVersionDoesNotDependOnTheDirectory(t *testing.T) {
	a, err := Load(keysAndTLSPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(keysAndTLSPolicy(t)) // new certificates: another version
	if err != nil {
		t.Fatal(err)
	}
	if a.Version == b.Version {
		t.Fatal("different certificates gave the same version")
	}
	// The same files in another directory give the same version.
	other := t.TempDir()
	for path, data := range a.Inputs() {
		rel, _ := filepath.Rel(filepath.Dir(a.Files[0]), path)
		target := filepath.Join(other, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(other)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != a.Version {
		t.Errorf("the same policy in another directory has version %s, want %s", c.Version, a.Version)
	}
}
