package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const authBase = `
listeners: [{ name: public, port: 8080 }]
services: { api: { endpoints: [127.0.0.1:9001] } }
`

func writeKeys(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "keys.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAuthDefaultsAndKeysFile(t *testing.T) {
	dir := writePolicy(t, map[string]string{"gateway.yaml": authBase + `
auth:
  api_keys: { file: keys/keys.yaml }
  jwt: [{ issuer: https://idp, jwks_uri: https://idp/jwks, claims_to_headers: { sub: X-User-Id, email: x-email } }]
routes:
  - { name: open, to: api, auth: { public: true } }
  - { name: default, to: api }
  - { name: scoped, to: api, auth: { accept: [api_key], scopes: [orders:read] } }
`})
	writeKeys(t, dir, "keys: []\n")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Auth
	if a.FailureMode != FailDeny || a.Timeout.D() != DefaultAuthzTimeout || a.APIKeys.Header != "X-API-Key" {
		t.Errorf("auth defaults: %+v", a)
	}
	if string(a.APIKeys.Data) != "keys: []\n" || a.APIKeys.Path != filepath.Join(dir, "keys", "keys.yaml") {
		t.Errorf("keys file: %q at %q", a.APIKeys.Data, a.APIKeys.Path)
	}
	j := a.JWT[0]
	if !slices.Equal(j.Algorithms, DefaultAlgorithms) || j.Leeway.D() != DefaultJWTLeeway || j.Outage != OutageDeny || j.ScopesClaim != "scope" {
		t.Errorf("jwt defaults: %+v", j)
	}
	if got := p.Routes[1].Auth.Accept; !slices.Equal(got, []string{CredAPIKey, CredJWT}) {
		t.Errorf("a route without auth accepts %v, want every configured credential", got)
	}
	if !p.Routes[0].Auth.Public || !p.HasAuthz() {
		t.Error("public route or HasAuthz wrong")
	}
	if got := p.IdentityHeaders(); !slices.Equal(got, []string{"x-email", "x-user-id"}) {
		t.Errorf("IdentityHeaders = %v", got)
	}

	// The keys file is part of the version: editing it reloads.
	v1 := p.Version
	writeKeys(t, dir, "keys: [] # edited\n")
	p2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Version == v1 {
		t.Error("editing the keys file did not change the policy version")
	}
}

func TestPolicyWithoutAuthHasNoAuthz(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"gateway.yaml": authBase + "routes: [{ name: r, to: api }]\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if p.HasAuthz() || p.Routes[0].Auth != nil {
		t.Error("a policy without auth must not call the authorization service")
	}
}

var invalidAuthCases = []struct {
	name, policy string
	want         []string
}{
	{"jwks source", `
auth:
  jwt: [{ issuer: a, jwks_uri: "ftp://x" }, { issuer: b }]
routes: [{ name: r, to: api }]
`, []string{`6:32: auth.jwt[0].jwks_uri: "ftp://x" is not an http(s) URL`, `6:45: auth.jwt[1]: set exactly one of jwks_uri and jwks_file`}},
	{"alg none and HMAC refused", `
auth:
  jwt: [{ issuer: a, jwks_uri: "https://x", algorithms: [none, HS256] }]
routes: [{ name: r, to: api }]
`, []string{`auth.jwt[0].algorithms: algorithm "none" is not allowed`, `auth.jwt[0].algorithms: algorithm "HS256" is not allowed`}},
	{"duplicate issuer and bad modes", `
auth:
  failure_mode: maybe
  jwt:
    - { issuer: a, jwks_uri: "https://x", outage: panic, refresh_interval: 0s }
    - { issuer: a, jwks_uri: "https://y" }
routes: [{ name: r, to: api }]
`, []string{`6:17: auth.failure_mode: unknown failure mode "maybe"`, `8:51: auth.jwt[0].outage: unknown outage mode "panic"`, `8:76: auth.jwt[0].refresh_interval: must be positive`, `9:17: auth.jwt[1].issuer: issuer "a" is already defined`}},
	{"max_stale not longer than refresh_interval", `
auth:
  jwt:
    - { issuer: a, jwks_uri: "https://x", refresh_interval: 20s, max_stale: 5s }
    - { issuer: b, jwks_uri: "https://y", refresh_interval: 2h }
    - { issuer: c, jwks_uri: "https://z", max_stale: 0s }
    - { issuer: d, jwks_uri: "https://w", refresh_interval: 1m, max_stale: 1m }
    - { issuer: e, jwks_uri: "https://v", refresh_interval: 1m, max_stale: 61s }
routes: [{ name: r, to: api }]
`, []string{
		`7:77: auth.jwt[0].max_stale: max_stale (5s) must be longer than refresh_interval (20s)`,
		`8:61: auth.jwt[1].refresh_interval: max_stale (default 1h0m0s) must be longer than refresh_interval (2h0m0s)`,
		`9:54: auth.jwt[2].max_stale: max_stale (0s) must be longer than refresh_interval (default 5m0s)`,
		`10:76: auth.jwt[3].max_stale: max_stale (1m0s) must be longer than refresh_interval (1m0s)`}},
	{"claim headers", `
auth:
  jwt: [{ issuer: a, jwks_uri: "https://x", claims_to_headers: { sub: x-tollgate-user, email: Authorization, name: "bad header" } }]
routes: [{ name: r, to: api }]
`, []string{`claims_to_headers.email: "Authorization" cannot carry a claim`, `claims_to_headers.name: "bad header" is not a valid header name`, `claims_to_headers.sub: "x-tollgate-user": x-tollgate-* headers are set by Tollgate`}},
	{"claim in the API key header", `
auth:
  jwt: [{ issuer: a, jwks_uri: "https://x", claims_to_headers: { sub: X-Api-Key } }]
routes: [{ name: r, to: api }]
`, []string{`claims_to_headers.sub: "X-Api-Key" cannot carry a claim: it is the API key header, which never reaches a service`}},
	{"route rules", `
routes:
  - { name: a, to: api, auth: { public: true, scopes: [x] } }
  - { name: b, to: api, auth: { accept: [api_key, jwt, magic] } }
  - { name: c, to: api, auth: { accept: [anonymous], roles: [admin], allow_query: true } }
  - { name: d, to: api, auth: { accept: [] } }
  - { name: e, to: api, auth: { accept: [anonymous, client_cert], scopes: [x] } }
`, []string{`6:55: routes.a.auth.scopes: a public route takes no scopes`,
		`7:41: routes.b.auth.accept: accepts api_key, but auth.api_keys is not configured`,
		`7:41: routes.b.auth.accept: accepts jwt, but auth.jwt lists no provider`,
		`7:41: routes.b.auth.accept: unknown credential "magic"`,
		`8:41: routes.c.auth.accept: a route that accepts anonymous callers cannot require scopes or roles`,
		`8:61: routes.c.auth.roles: roles come from JWTs`,
		`8:83: routes.c.auth.allow_query: allow_query is about API keys`,
		`9:41: routes.d.auth.accept: accept lists no credential`,
		`10:41: routes.e.auth.accept: a route that accepts anonymous callers cannot require scopes`,
		`10:41: routes.e.auth.accept: accepts client_cert, but listener "public" does not verify client certificates`}},
	{"keys file missing", `
auth: { api_keys: { file: keys/nope.yaml } }
routes: [{ name: r, to: api }]
`, []string{`5:27: auth.api_keys.file: cannot read keys/nope.yaml: no such file or directory`}},
	{"keys file read as policy", `
auth: { api_keys: { file: keys.yaml } }
routes: [{ name: r, to: api }]
`, []string{`5:27: auth.api_keys.file: "keys.yaml" would be read as a policy file`}},
	{"no credentials for a default route", `
auth: { failure_mode: allow }
routes: [{ name: r, to: api }]
`, []string{`6:10: routes.r.auth: auth configures no api_keys or jwt`}},
}

func TestLoadRejectsInvalidAuthWithPositions(t *testing.T) {
	for _, tc := range invalidAuthCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePolicy(t, map[string]string{"bad.yaml": authBase + tc.policy})
			_, err := Load(dir)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, want Errors: %v", err, err)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("missing %q in:\n%v", want, err)
				}
			}
		})
	}
}

// An optional keys file may be missing: no keys until it appears, and
// its appearance changes the version, so a running Tollgate reloads.
func TestOptionalKeysFileMayBeMissing(t *testing.T) {
	dir := writePolicy(t, map[string]string{"gateway.yaml": authBase + `
auth: { api_keys: { file: keys/keys.yaml, optional: true } }
routes: [{ name: r, to: api }]
`})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if k := p.Auth.APIKeys; k.Data != nil || k.Path != filepath.Join(dir, "keys", "keys.yaml") {
		t.Errorf("missing optional keys file: data %q path %q", k.Data, k.Path)
	}
	writeKeys(t, dir, "keys: []\n")
	p2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Version == p.Version || string(p2.Auth.APIKeys.Data) != "keys: []\n" {
		t.Errorf("creating the keys file: version unchanged or data %q", p2.Auth.APIKeys.Data)
	}
	// Still never a policy file, missing or not.
	dir = writePolicy(t, map[string]string{"gateway.yaml": authBase + "auth: { api_keys: { file: keys.yaml, optional: true } }\nroutes: [{ name: r, to: api }]\n"})
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "would be read as a policy file") {
		t.Errorf("optional keys.yaml beside the policy: %v", err)
	}
}
