package authz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/tollgate/tollgate/internal/authtest"
)

// signWithHeaders signs claims with k, adding the given JOSE header fields.
func signWithHeaders(t *testing.T, k *authtest.Key, c authtest.Claims, fields map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.Kid)
	for name, v := range fields {
		if err := hdr.Set(name, v); err != nil {
			t.Fatalf("header %s: %v", name, err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.Alg), k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(tok)
}

// A token cannot bring its own key: jku and x5u are never fetched and an
// embedded jwk is never used, so a token signed by an attacker's key is
// refused whatever its header says; a crit header is refused outright.
func TestTokenHeadersCannotNameTheirOwnKeys(t *testing.T) {
	f := newFixture(t, "")
	attacker := authtest.NewRSA("attacker")
	var fetched atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		_, _ = w.Write(authtest.JWKS(attacker))
	}))
	t.Cleanup(srv.Close)
	embedded, err := jwk.FromRaw(attacker.Private.Public())
	if err != nil {
		t.Fatal(err)
	}
	_ = embedded.Set(jwk.KeyIDKey, attacker.Kid)
	good := authtest.Standard(testIssuer, "orders-api", "alice", "orders:read")
	cases := []struct {
		name   string
		key    *authtest.Key
		fields map[string]any
		reason string
	}{
		{"jku", attacker, map[string]any{"jku": srv.URL + "/jwks.json"}, "unknown_kid"},
		{"x5u", attacker, map[string]any{"x5u": srv.URL + "/cert.pem"}, "unknown_kid"},
		{"embedded jwk", attacker, map[string]any{"jwk": embedded}, "unknown_kid"},
		{"jku with a known kid", &authtest.Key{Kid: f.rsa.Kid, Alg: "RS256", Private: attacker.Private}, map[string]any{"jku": srv.URL}, "bad_signature"},
		{"crit", f.rsa, map[string]any{"crit": []string{"exp"}}, "unsupported_header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := f.check("read", "/orders", bearer(signWithHeaders(t, c.key, good, c.fields)))
			if d.Status != 401 || d.Reason != c.reason {
				t.Errorf("status %d reason %q, want 401 %q", d.Status, d.Reason, c.reason)
			}
		})
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the token's jku/x5u was fetched %d times", n)
	}
}
