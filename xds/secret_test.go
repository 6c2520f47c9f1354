package xds

import (
	"path/filepath"
	"slices"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/policy"
)

// A replaced certificate must reach Envoy as a new version of the same
// secret and nothing else: a changed listener or cluster would make Envoy
// drain connections or rebuild pools.
func TestCertificateRotationChangesOnlySecrets(t *testing.T) {
	dir := t.TempDir()
	if err := testcerts.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(`
listeners:
  - { name: public, port: 8443, tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }] } }
services:
  api: { endpoints: [10.0.0.1:8443], tls: { ca: certs/ca.pem, client_cert: certs/gw.pem, client_key: certs/gw-key.pem } }
routes:
  - { name: api, to: api }
`)); err != nil {
		t.Fatal(err)
	}
	ca, err := testcerts.NewCA("rotation-ca")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) {
		leaf, err := ca.Issue(testcerts.Options{CommonName: name, DNSNames: []string{name + ".example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := leaf.Write(filepath.Join(dir, "certs", name+".pem"), filepath.Join(dir, "certs", name+"-key.pem")); err != nil {
			t.Fatal(err)
		}
	}
	issue("api")
	issue("gw")
	if err := testcerts.WriteFile(filepath.Join(dir, "certs", "ca.pem"), ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]string {
		p, err := policy.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Snapshot(p, DefaultGroup, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(s.GetResources(resourcev3.SecretType)); got != 3 {
			t.Errorf("%d secrets, want 3 (listener certificate, service CA, client certificate)", got)
		}
		versions := map[string]string{}
		for _, typ := range servedTypes {
			versions[typ] = s.GetVersion(typ)
		}
		return versions
	}
	before := snapshot()
	issue("api")
	issue("gw")
	after := snapshot()
	for _, typ := range servedTypes {
		changed := before[typ] != after[typ]
		if want := typ == resourcev3.SecretType; changed != want {
			t.Errorf("%s: version changed = %v, want %v", typ, changed, want)
		}
	}
	if !slices.Contains(servedTypes, resourcev3.SecretType) {
		t.Error("secrets are not a served type: a certificate-only change would never be pushed")
	}
}
