package authz

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/policy"
)

const testIssuer = "https://idp.test"

const testPolicy = `
listeners:
  - { name: public, port: 8080 }
  - { name: mtls, port: 8443, tls: { certificates: [{ cert: certs/server.pem, key: certs/server-key.pem }], client_ca: certs/ca.pem } }
services:
  orders: { endpoints: [127.0.0.1:9001] }
  admin: { endpoints: [127.0.0.1:9002] }
auth:
  api_keys: { file: keys/keys.yaml }
  jwt:
    - issuer: https://idp.test
      JWKS_SOURCE
      audiences: [orders-api]
      algorithms: [RS256, ES256]
      leeway: 5s
      max_stale: 1m
      refresh_interval: 30s
      roles_claim: realm_access.roles
      tier_claim: plan
      required_claims: [sub]
      claims_to_headers: { sub: x-user-id, email: x-email }
routes:
  - { name: public, match: { path_prefix: /public }, to: orders, auth: { public: true } }
  - { name: read, match: { path_prefix: /orders }, to: orders, auth: { accept: [api_key, jwt], scopes: [orders:read] } }
  - { name: admin, match: { path_prefix: /admin }, to: admin, auth: { accept: [jwt, api_key], roles: [admin] } }
  - { name: open, match: { path_prefix: /open }, to: orders, auth: { accept: [anonymous, api_key] } }
  - { name: query, match: { path_prefix: /q }, to: orders, auth: { accept: [api_key], allow_query: true } }
  - { name: certs, listeners: [mtls], match: { path_prefix: /m }, to: orders, auth: { accept: [client_cert] } }
  - { name: plain, match: { path_prefix: /plain }, to: orders }
`

// fixture is an engine serving testPolicy, with a clock tests move.
type fixture struct {
	e       *Engine
	now     time.Time
	dir     string
	keys    map[string]string // id → plaintext key
	rsa, ec *authtest.Key
}

func newFixture(t testing.TB, jwksURI string) *fixture {
	t.Helper()
	f := &fixture{now: time.Now(), dir: t.TempDir(), keys: map[string]string{},
		rsa: authtest.NewRSA("rsa-1"), ec: authtest.NewEC("ec-1")}
	source := "jwks_file: keys/jwks.json"
	if jwksURI != "" {
		source = "jwks_uri: " + jwksURI
	}
	writeTestFile(t, filepath.Join(f.dir, "gateway.yaml"), strings.Replace(testPolicy, "JWKS_SOURCE", source, 1))
	writeTestFile(t, filepath.Join(f.dir, "keys", "jwks.json"), string(authtest.JWKS(f.rsa, f.ec)))
	writeTestCerts(t, filepath.Join(f.dir, "certs"))
	past, future := f.now.Add(-time.Hour), f.now.Add(time.Hour)
	kf := &KeysFile{}
	for _, k := range []struct {
		id               string
		services         []string
		expires, revoked *time.Time
	}{{"partner", []string{"orders"}, &future, nil}, {"revoked", nil, nil, &past}, {"expired", nil, &past, nil}, {"admin-only", []string{"admin"}, nil, nil}} {
		plain, hash, err := NewKey(k.id)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[k.id] = plain
		kf.Keys = append(kf.Keys, &KeyRecord{ID: k.id, Tier: "gold", Scopes: []string{"orders:read"}, Services: k.services,
			Created: past, Expires: k.expires, Revoked: k.revoked, Secrets: []*KeySecret{{SHA256: hash, Created: past}}})
	}
	if err := WriteKeysFile(filepath.Join(f.dir, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
	f.e = New(Options{Now: func() time.Time { return f.now }})
	t.Cleanup(f.e.Close)
	f.reload(t)
	return f
}

func (f *fixture) reload(t testing.TB) {
	t.Helper()
	p, err := policy.Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := f.e.Compile(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	commit()
}

// writeTestCerts writes a CA and a server certificate for the mtls
// listener: a route accepting client_cert needs a listener that verifies
// client certificates.
func writeTestCerts(t testing.TB, dir string) {
	t.Helper()
	ca, err := testcerts.NewCA("authz-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(testcerts.Options{CommonName: "gateway", DNSNames: []string{"localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(filepath.Join(dir, "ca.pem"), ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	if err := server.Write(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")); err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) check(route, path string, headers map[string]string) *Decision {
	if headers == nil {
		headers = map[string]string{}
	}
	return f.e.Check(&Request{Route: route, Path: path, Headers: headers})
}

func bearer(tok string) map[string]string { return map[string]string{"authorization": "Bearer " + tok} }

func TestDecisions(t *testing.T) {
	f := newFixture(t, "")
	good := authtest.Standard(testIssuer, "orders-api", "alice", "orders:read profile").
		With("email", "alice@example.com", "plan", "pro", "realm_access", map[string]any{"roles": []any{"admin"}})
	other := authtest.NewRSA("rsa-1") // same kid, different key
	cases := []struct {
		name, route, path string
		headers           map[string]string
		status            int
		reason            string
	}{
		{"key in header", "read", "/orders", map[string]string{"x-api-key": f.keys["partner"]}, 200, "ok"},
		{"key as ApiKey authorization", "read", "/orders", map[string]string{"authorization": "ApiKey " + f.keys["partner"]}, 200, "ok"},
		{"no credential", "read", "/orders", nil, 401, "missing_credentials"},
		{"unknown key", "read", "/orders", map[string]string{"x-api-key": "tg_nobody_" + strings.Repeat("a", 32)}, 401, "unknown_key"},
		{"wrong secret", "read", "/orders", map[string]string{"x-api-key": f.keys["partner"][:len(f.keys["partner"])-4] + "aaaa"}, 401, "bad_secret"},
		{"malformed key", "read", "/orders", map[string]string{"x-api-key": "hunter2"}, 401, "malformed_key"},
		{"revoked key", "read", "/orders", map[string]string{"x-api-key": f.keys["revoked"]}, 401, "key_revoked"},
		{"expired key", "read", "/orders", map[string]string{"x-api-key": f.keys["expired"]}, 401, "key_expired"},
		{"service not allowed", "read", "/orders", map[string]string{"x-api-key": f.keys["admin-only"]}, 403, "service_not_allowed"},
		{"key lacks role", "admin", "/admin", map[string]string{"x-api-key": f.keys["admin-only"]}, 403, "insufficient_role"},
		{"key in query refused", "read", "/orders?api_key=" + f.keys["partner"], nil, 401, "key_in_query"},
		{"key in query refused where anonymous is allowed", "open", "/open?a=1&api_key=" + f.keys["partner"], nil, 401, "key_in_query"},
		{"key in query refused beside a valid key header", "read", "/orders?api_key=x", map[string]string{"x-api-key": f.keys["partner"]}, 401, "key_in_query"},
		{"empty api_key parameter is no key", "open", "/open?api_key=", nil, 200, "ok"},
		{"key in query allowed", "query", "/q?x=1&api_key=" + f.keys["partner"], nil, 200, "ok"},
		{"anonymous", "open", "/open", nil, 200, "ok"},
		{"bad key on anonymous route", "open", "/open", map[string]string{"x-api-key": "tg_x_y"}, 401, "malformed_key"},
		{"jwt on key-only route", "query", "/q", bearer(f.rsa.Sign(good)), 401, "credential_not_accepted"},
		{"public", "public", "/public", nil, 200, "ok"},
		{"unknown route", "nope", "/", nil, 403, "no_rule"},
		{"default rule needs a credential", "plain", "/plain", nil, 401, "missing_credentials"},
		{"client cert", "certs", "/m", nil, 401, "missing_credentials"},

		{"RS256", "read", "/orders", bearer(f.rsa.Sign(good)), 200, "ok"},
		{"ES256", "read", "/orders", bearer(f.ec.Sign(good)), 200, "ok"},
		{"role via nested claim", "admin", "/admin", bearer(f.ec.Sign(good)), 200, "ok"},
		{"missing role", "admin", "/admin", bearer(f.ec.Sign(good.With("realm_access", map[string]any{"roles": []any{"user"}}))), 403, "insufficient_role"},
		{"missing scope", "read", "/orders", bearer(f.rsa.Sign(good.With("scope", "profile"))), 403, "insufficient_scope"},
		{"scope as array", "read", "/orders", bearer(f.rsa.Sign(good.With("scope", []any{"orders:read"}))), 200, "ok"},
		{"expired", "read", "/orders", bearer(f.rsa.Sign(good.With("exp", f.now.Add(-time.Minute).Unix()))), 401, "expired"},
		{"expired within leeway", "read", "/orders", bearer(f.rsa.Sign(good.With("exp", f.now.Add(-2*time.Second).Unix()))), 200, "ok"},
		{"no exp", "read", "/orders", bearer(f.rsa.Sign(good.With("exp", nil))), 401, "no_expiry"},
		{"not yet valid", "read", "/orders", bearer(f.rsa.Sign(good.With("nbf", f.now.Add(time.Minute).Unix()))), 401, "not_yet_valid"},
		{"issued in the future", "read", "/orders", bearer(f.rsa.Sign(good.With("iat", f.now.Add(time.Minute).Unix()))), 401, "issued_in_future"},
		{"wrong issuer", "read", "/orders", bearer(f.rsa.Sign(good.With("iss", "https://evil"))), 401, "unknown_issuer"},
		{"wrong audience", "read", "/orders", bearer(f.rsa.Sign(good.With("aud", "other"))), 401, "wrong_audience"},
		{"audience in array", "read", "/orders", bearer(f.rsa.Sign(good.With("aud", []any{"x", "orders-api"}))), 200, "ok"},
		{"required claim missing", "read", "/orders", bearer(f.rsa.Sign(good.With("sub", nil))), 401, "missing_claim"},
		{"alg none", "read", "/orders", bearer(authtest.None("rsa-1", good)), 401, "malformed_token"},
		{"HS256 with the RSA public key", "read", "/orders", bearer(f.rsa.HS256WithPublicKey(good)), 401, "alg_not_allowed"},
		{"tampered payload", "read", "/orders", bearer(authtest.Tamper(f.rsa.Sign(good), good.With("sub", "mallory"))), 401, "bad_signature"},
		{"signed by another key", "read", "/orders", bearer(other.Sign(good)), 401, "bad_signature"},
		{"unknown kid", "read", "/orders", bearer(authtest.NewEC("ec-9").Sign(good)), 401, "unknown_kid"},
		{"garbage token", "read", "/orders", bearer("a.b.c"), 401, "malformed_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := f.check(tc.route, tc.path, tc.headers)
			if d.Status != tc.status || d.Reason != tc.reason {
				t.Errorf("got %d %s, want %d %s", d.Status, d.Reason, tc.status, tc.reason)
			}
			if d.Status == 401 && len(d.Challenges) == 0 && tc.route != "certs" {
				t.Error("a 401 without WWW-Authenticate")
			}
			body := d.Body("req-1")
			for _, k := range f.keys {
				if strings.Contains(body, k) || strings.Contains(d.Client, k) {
					t.Errorf("the answer repeats a key: %s", body)
				}
			}
		})
	}
}

func TestIdentityOfJWTAndKey(t *testing.T) {
	f := newFixture(t, "")
	tok := f.rsa.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "orders:read").With("email", "a@x", "plan", "pro"))
	d := f.check("read", "/orders", bearer(tok))
	want := [][2]string{{"x-tollgate-auth", "jwt"}, {"x-tollgate-client-id", "user:alice"}, {"x-tollgate-tier", "pro"},
		{"x-tollgate-user", "alice"}, {"x-tollgate-scopes", "orders:read"}, {"x-email", "a@x"}, {"x-user-id", "alice"}}
	if !slices.Equal(d.Identity.Headers, want) {
		t.Errorf("JWT headers:\n got %v\nwant %v", d.Identity.Headers, want)
	}
	d = f.check("read", "/orders", map[string]string{"x-api-key": f.keys["partner"]})
	want = [][2]string{{"x-tollgate-auth", "api_key"}, {"x-tollgate-client-id", "partner"}, {"x-tollgate-tier", "gold"}, {"x-tollgate-scopes", "orders:read"}}
	if !slices.Equal(d.Identity.Headers, want) || !slices.Equal(d.RemoveHeaders, []string{"x-api-key"}) {
		t.Errorf("key headers: got %v remove %v", d.Identity.Headers, d.RemoveHeaders)
	}
	if d := f.check("open", "/open", nil); d.Identity.ClientID != "" || d.Identity.Headers[0] != [2]string{"x-tollgate-auth", "anonymous"} {
		t.Errorf("anonymous: %+v", d.Identity)
	}
	d = f.e.Check(&Request{Route: "certs", Headers: map[string]string{}, Principal: "spiffe://acme/billing"})
	if !d.Allowed() || d.Identity.ClientID != "cert:spiffe://acme/billing" || d.Identity.Auth != AuthClientCert {
		t.Errorf("client cert: %d %+v", d.Status, d.Identity)
	}
	if used := f.e.Usage().Snapshot(); used["partner"].IsZero() {
		t.Error("the key's last use was not recorded")
	}
}

func TestTokenCacheExpiresWithTheToken(t *testing.T) {
	f := newFixture(t, "")
	tok := f.rsa.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "orders:read").With("exp", f.now.Add(time.Minute).Unix()))
	if d := f.check("read", "/orders", bearer(tok)); !d.Allowed() {
		t.Fatal(d.Reason)
	}
	if n := f.e.rules.Load().providers[testIssuer].cache.len(); n != 1 {
		t.Fatalf("cache holds %d tokens, want 1", n)
	}
	f.now = f.now.Add(2 * time.Minute)
	if d := f.check("read", "/orders", bearer(tok)); d.Status != 401 || d.Reason != "expired" {
		t.Errorf("a cached token outlived its exp: %d %s", d.Status, d.Reason)
	}
}

func TestRotationWithOverlap(t *testing.T) {
	f := newFixture(t, "")
	path := filepath.Join(f.dir, "keys", "keys.yaml")
	kf, err := ReadKeysFile(path)
	if err != nil {
		t.Fatal(err)
	}
	newKey, err := Rotate(kf, "partner", 30*time.Minute, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeysFile(path, kf); err != nil {
		t.Fatal(err)
	}
	f.reload(t)
	old := f.keys["partner"]
	for _, k := range []string{old, newKey} {
		if d := f.check("read", "/orders", map[string]string{"x-api-key": k}); !d.Allowed() {
			t.Errorf("during the overlap a key was refused: %s", d.Reason)
		}
	}
	f.now = f.now.Add(45 * time.Minute)
	if d := f.check("read", "/orders", map[string]string{"x-api-key": old}); d.Reason != "bad_secret" {
		t.Errorf("the old secret still works after the overlap: %d %s", d.Status, d.Reason)
	}
	if d := f.check("read", "/orders", map[string]string{"x-api-key": newKey}); !d.Allowed() {
		t.Errorf("the new secret was refused: %s", d.Reason)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), newKey) || strings.Contains(string(data), old) {
		t.Error("the keys file holds a plaintext key")
	}
}

func TestBadKeysFileKeepsTheLastGoodRules(t *testing.T) {
	f := newFixture(t, "")
	writeTestFile(t, filepath.Join(f.dir, "keys", "keys.yaml"), "keys:\n  - id: x\n    secrets: [{ sha256: "+f.keys["partner"]+" }]\n")
	p, err := policy.Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.e.Compile(t.Context(), p)
	if err == nil || !strings.Contains(err.Error(), "keys.yaml:2: keys[0]") || strings.Contains(err.Error(), f.keys["partner"]) {
		t.Fatalf("want a positioned error that does not repeat the value, got %v", err)
	}
	if d := f.check("read", "/orders", map[string]string{"x-api-key": f.keys["partner"]}); !d.Allowed() {
		t.Error("the last good keys stopped serving")
	}
}

// The identity contract (policy/identity.go) from the authz side: every
// allowed request says how it was authenticated in the header the rate
// limiter reads, anonymous callers as policy.Anonymous, and the client id,
// user and tier are in the headers the limits count by.
func TestIdentityHeadersAreWhatTheRateLimiterReads(t *testing.T) {
	f := newFixture(t, "")
	tok := f.rsa.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "orders:read").With("plan", "pro"))
	for _, tc := range []struct {
		name                 string
		d                    *Decision
		authenticated        bool
		clientID, user, tier string
	}{
		{"api key", f.check("read", "/orders", map[string]string{"x-api-key": f.keys["partner"]}), true, "partner", "", "gold"},
		{"jwt", f.check("read", "/orders", bearer(tok)), true, "user:alice", "alice", "pro"},
		{"client cert", f.e.Check(&Request{Route: "certs", Headers: map[string]string{}, Principal: "spiffe://acme/b"}), true, "cert:spiffe://acme/b", "", ""},
		{"anonymous", f.check("open", "/open", nil), false, "", "", ""},
	} {
		if !tc.d.Allowed() {
			t.Fatalf("%s: refused: %+v", tc.name, tc.d)
		}
		h := map[string]string{}
		for _, kv := range tc.d.Identity.Headers {
			h[kv[0]] = kv[1]
		}
		auth, ok := h[policy.AuthStateHeader]
		if !ok || policy.Authenticated(auth) != tc.authenticated {
			t.Errorf("%s: %s = %q (set %v), want authenticated=%v", tc.name, policy.AuthStateHeader, auth, ok, tc.authenticated)
		}
		for d, want := range map[policy.KeyDimension]string{policy.KeyClientID: tc.clientID, policy.KeyUser: tc.user, policy.KeyTier: tc.tier} {
			if got, set := h[policy.IdentityHeader(d)]; got != want || set != (want != "") {
				t.Errorf("%s: %s = %q (set %v), want %q", tc.name, policy.IdentityHeader(d), got, set, want)
			}
		}
	}
}
