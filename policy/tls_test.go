package policy

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/testcerts"
)

// tlsFiles writes a policy with generated certificates under certs/: a
// CA, a server certificate for api.example.com and its key, a second
// key that matches nothing, and a file that is not PEM.
func tlsFiles(t *testing.T, policy string) string {
	t.Helper()
	ca, err := testcerts.NewCA("policy-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(testcerts.Options{CommonName: "api", DNSNames: []string{"api.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	stray, err := ca.Issue(testcerts.Options{CommonName: "stray"})
	if err != nil {
		t.Fatal(err)
	}
	dir := writePolicy(t, map[string]string{"bad.yaml": policy})
	for name, data := range map[string][]byte{
		"certs/ca.pem": ca.CertPEM, "certs/api.pem": server.CertPEM, "certs/api-key.pem": server.KeyPEM,
		"certs/stray-key.pem": stray.KeyPEM, "certs/notes.txt": []byte("not a certificate\n"),
	} {
		if err := testcerts.WriteFile(filepath.Join(dir, name), data); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var invalidTLSCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"missing certificate file", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [{ cert: certs/missing.pem, key: certs/api-key.pem }] }\n", []string{
		`4:35: listeners.l.tls.certificates[0].cert: cannot read certs/missing.pem: no such file or directory`,
	}},
	{"unreadable certificate", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [{ cert: certs, key: certs/api-key.pem }] }\n", []string{
		`4:35: listeners.l.tls.certificates[0].cert: cannot read certs: is a directory`,
	}},
	{"not PEM", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [{ cert: certs/notes.txt, key: certs/api-key.pem }] }\n", []string{
		`4:35: listeners.l.tls.certificates[0].cert: certs/notes.txt is not a PEM file`,
	}},
	{"key does not match", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [{ cert: certs/api.pem, key: certs/stray-key.pem }] }\n", []string{
		`4:55: listeners.l.tls.certificates[0].key: key certs/stray-key.pem does not go with certificate certs/api.pem: the private key does not match the certificate's public key`,
	}},
	{"listener settings", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [], min_version: \"1.1\", require_client_cert: true, redirect_http_from: 443 }\n", []string{
		`4:10: listeners.l.tls.certificates: TLS needs at least one certificate`,
		`4:43: listeners.l.tls.min_version: unknown TLS version "1.1"`,
		`4:71: listeners.l.tls.require_client_cert: require_client_cert needs client_ca`,
		`4:97: listeners.l.tls.redirect_http_from: port 443 is already listener "l"'s port`,
	}},
	{"client CA is not a CA bundle", "listeners:\n  - name: l\n    port: 443\n    tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }], client_ca: certs/api-key.pem }\n", []string{
		`4:88: listeners.l.tls.client_ca: certs/api-key.pem holds no PEM certificate`,
	}},
	// client_cert needs a listener that asks for one: the route attached
	// to every listener is refused for the plain one, the route attached
	// to the mTLS listener only is fine.
	{"client_cert route on a listener without client_ca", `listeners:
  - { name: mtls, port: 443, tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }], client_ca: certs/ca.pem } }
  - { name: plain, port: 8080 }
services: { a: { endpoints: [127.0.0.1:1] } }
auth: { api_keys: { file: certs/ca.pem } }
routes:
  - { name: everywhere, to: a, auth: { accept: [client_cert, api_key] } }
  - { name: mtls-only, listeners: [mtls], to: a, auth: { accept: [client_cert] } }
`, []string{
		`7:48: routes.everywhere.auth.accept: accepts client_cert, but listener "plain" does not verify client certificates: set its tls.client_ca`,
	}},
	{"upstream without CA", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    tls: { sni: a.internal, client_cert: certs/api.pem }\n", []string{
		`4:10: services.a.tls.ca: upstream TLS needs ca`,
		`4:10: services.a.tls: mutual TLS needs both client_cert and client_key`,
	}},
	{"upstream client key mismatch", "services:\n  a:\n    endpoints: [127.0.0.1:1]\n    tls: { ca: certs/ca.pem, client_cert: certs/api.pem, client_key: certs/stray-key.pem }\n", []string{
		`4:70: services.a.tls.client_key: key certs/stray-key.pem does not go with certificate certs/api.pem`,
	}},
}

func TestLoadRejectsBadCertificatesWithPositions(t *testing.T) {
	for _, tc := range invalidTLSCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, tlsFiles(t, tc.policy), tc.want)
		})
	}
}

const validTLSPolicy = `
listeners:
  - name: l
    port: 443
    tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }], client_ca: certs/ca.pem }
services:
  a:
    endpoints: [127.0.0.1:1]
    tls: { ca: certs/ca.pem, sni: a.internal, client_cert: certs/api.pem, client_key: certs/api-key.pem }
routes:
  - { name: r, to: a }
`

func TestLoadReadsCertificatesAndVersionsThem(t *testing.T) {
	dir := tlsFiles(t, validTLSPolicy)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := p.Listeners[0].TLS
	c := l.Certificates[0]
	if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 || len(l.ClientCAPEM) == 0 || !slices.Equal(c.Names, []string{"api.example.com"}) {
		t.Errorf("listener TLS not read: names %v", c.Names)
	}
	if l.MinVersion != TLS12 || !l.RequiresClientCert() {
		t.Errorf("listener TLS defaults: min %q, requires client cert %v", l.MinVersion, l.RequiresClientCert())
	}
	u := p.Services["a"].TLS
	if len(u.CAPEM) == 0 || len(u.ClientCertPEM) == 0 || len(u.ClientKeyPEM) == 0 {
		t.Error("upstream TLS not read")
	}
	if got := p.TLSDirs(); !slices.Equal(got, []string{filepath.Join(dir, "certs")}) {
		t.Errorf("TLSDirs = %v", got)
	}

	// Replacing a certificate file, with the policy files untouched, is a
	// new version.
	ca, _ := testcerts.NewCA("another")
	leaf, _ := ca.Issue(testcerts.Options{CommonName: "api", DNSNames: []string{"api.example.com"}})
	if err := leaf.Write(filepath.Join(dir, "certs/api.pem"), filepath.Join(dir, "certs/api-key.pem")); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.Version == p.Version {
		t.Error("a replaced certificate did not change the policy version")
	}
}

func TestPrivateKeysNeverPrint(t *testing.T) {
	p, err := Load(tlsFiles(t, validTLSPolicy))
	if err != nil {
		t.Fatal(err)
	}
	key := p.Listeners[0].TLS.Certificates[0].KeyPEM
	js, _ := json.Marshal(p)
	for _, out := range []string{fmt.Sprint(key), fmt.Sprintf("%v %+v %#v %s %x %q", key, key, key, key, key, key),
		fmt.Sprintf("%+v", *p.Listeners[0].TLS.Certificates[0]), fmt.Sprintf("%+v", *p.Services["a"].TLS), string(js)} {
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("key material printed: %.200s", out)
		}
	}
	if !strings.Contains(string(key.Bytes()), "PRIVATE KEY") {
		t.Error("Bytes must return the key itself")
	}
}
