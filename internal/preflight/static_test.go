package preflight

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/policy"
)

// goodPolicy passes every static item; each case of
// TestEachStaticItemFailsWhereToChange breaks one.
const goodPolicy = `listeners:
  - name: public
    port: 8080
services:
  api:
    endpoints: [127.0.0.1:9001]
    timeout: 1s
    circuit_breaker: { max_requests: 100 }
    outlier_detection: { consecutive_5xx: 5 }
  admin:
    endpoints: [127.0.0.1:9002]
    timeout: 1s
    circuit_breaker: { max_requests: 100 }
    outlier_detection: { consecutive_5xx: 5 }
routes:
  - name: admin
    match: { path_prefix: /admin/ }
    to: admin
    auth: { accept: [api_key], scopes: [admin] }
    rate_limits: [per-key, gold]
  - name: api
    match: { path_prefix: /api }
    to: api
    auth: { accept: [anonymous, api_key] }
    rate_limits: [per-ip-anon, per-key]
auth:
  api_keys: { file: keys/keys.yaml }
rate_limits:
  per-ip-anon: { when: anonymous, key: [client_ip], token_bucket: { rate: 10/s } }
  per-key: { when: authenticated, key: [client_id], token_bucket: { rate: 100/s } }
  gold: { key: [client_id], token_bucket: { rate: 50/s } }
tiers:
  gold: { rate_limits: [gold] }
`

var hash = strings.Repeat("ab", 32)

var scopedKeys = "keys:\n  - id: ok\n    scopes: [admin]\n    created: 2026-01-01T00:00:00Z\n    secrets: [{ sha256: " + hash + ", created: 2026-01-01T00:00:00Z }]\n"

// loadCase writes the policy (and its keys file, and extra files) and
// loads it.
func loadCase(t testing.TB, yaml, keys string, extra map[string]string) *policy.Policy {
	t.Helper()
	files := map[string]string{"policy.yaml": yaml, "keys/keys.yaml": keys}
	for k, v := range extra {
		files[k] = v
	}
	return policytest.LoadFiles(t, files)
}

func byID(results []Result, id string) Result {
	for _, r := range results {
		if r.ID == id {
			return r
		}
	}
	return Result{}
}

func TestGoodPolicyPassesEveryStaticItem(t *testing.T) {
	p := loadCase(t, goodPolicy, scopedKeys, nil)
	for _, r := range Static(p, StaticOptions{CertDays: 30}) {
		if r.Status == Fail {
			t.Errorf("%s failed: %+v", r.ID, r.Findings)
		}
	}
}

// TestEachStaticItemFailsWhereToChange breaks each item of the checklist
// once, on a policy that otherwise passes, and wants the item to fail at
// the file:line:col of what to change.
func TestEachStaticItemFailsWhereToChange(t *testing.T) {
	tlsFiles := certFiles(t)
	jwks := string(authtest.JWKS(authtest.NewRSA("k1")))
	cases := []struct {
		name, item string
		edit       func(string) string
		keys       string
		extra      map[string]string
		at, says   string
	}{
		{name: "no per-IP limit for anonymous callers", item: "rate-limits",
			edit: replace("rate_limits: [per-ip-anon, per-key]", "rate_limits: [per-key]"),
			at:   "policy.yaml:25:18", says: "route api lets anonymous callers in without a per-IP limit"},
		{name: "one per-IP limit for anonymous and authenticated callers", item: "rate-limits",
			edit: replace("per-ip-anon: { when: anonymous, key", "per-ip-anon: { key"),
			at:   "policy.yaml:25:18", says: "when: anonymous"},
		{name: "no per-key limit for key holders", item: "rate-limits",
			edit: replace("rate_limits: [per-key, gold]", "rate_limits: [gold]"),
			at:   "policy.yaml:20:18", says: "route admin takes credentials without a per-key limit"},
		{name: "a tier limit above the per-key one", item: "impossible-limits",
			edit: replace("gold: { key: [client_id], token_bucket: { rate: 50/s } }", "gold: { key: [client_id], token_bucket: { rate: 500/s } }"),
			at:   "policy.yaml:31:43", says: "limit gold of tier gold admits 500/s per client, above limit per-key (100/s"},
		{name: "a service without a circuit breaker", item: "circuit-breakers",
			edit: replace("    timeout: 1s\n    circuit_breaker: { max_requests: 100 }\n    outlier_detection: { consecutive_5xx: 5 }\n  admin:", "    timeout: 1s\n    outlier_detection: { consecutive_5xx: 5 }\n  admin:"),
			at:   "policy.yaml:6:5", says: "service api has no circuit_breaker"},
		{name: "a service without outlier detection", item: "circuit-breakers",
			edit: replace("    circuit_breaker: { max_requests: 100 }\n    outlier_detection: { consecutive_5xx: 5 }\nroutes:", "    circuit_breaker: { max_requests: 100 }\nroutes:"),
			at:   "policy.yaml:11:5", says: "service admin has no outlier_detection"},
		{name: "JWT keys from a file", item: "jwks",
			edit:  replace("  api_keys: { file: keys/keys.yaml }\n", "  api_keys: { file: keys/keys.yaml }\n  jwt:\n    - { issuer: https://idp.test, jwks_file: jwks/idp.json }\n"),
			extra: map[string]string{"jwks/idp.json": jwks},
			at:    "policy.yaml:29:46", says: "provider https://idp.test reads its keys from a file"},
		{name: "an API key without scopes", item: "api-keys",
			keys: "keys:\n  - id: ok\n    scopes: [admin]\n    created: 2026-01-01T00:00:00Z\n    secrets: [{ sha256: " + hash + ", created: 2026-01-01T00:00:00Z }]\n" +
				"  - id: wide\n    created: 2026-01-01T00:00:00Z\n    secrets: [{ sha256: " + strings.Repeat("cd", 32) + ", created: 2026-01-01T00:00:00Z }]\n",
			at: "keys/keys.yaml:6:5", says: "key wide has neither scopes nor services"},
		{name: "a route taking keys without scopes", item: "api-keys",
			edit: replace("auth: { accept: [api_key], scopes: [admin] }", "auth: { accept: [api_key] }"),
			at:   "policy.yaml:19:11", says: "route admin takes API keys but asks for no scope"},
		{name: "a route without a timeout", item: "timeouts",
			edit: replace("    endpoints: [127.0.0.1:9001]\n    timeout: 1s\n", "    endpoints: [127.0.0.1:9001]\n"),
			at:   "policy.yaml:20:5", says: "route api has no timeout: the 15s default applies"},
		{name: "Redis without a declared failure mode", item: "redis-failure-mode",
			edit: appendText("rate_limit_store: { redis: { address: 127.0.0.1:6379 } }\n"),
			at:   "policy.yaml:34:19", says: "rate_limit_store has no on_failure"},
		{name: "a route shadowed by an earlier one", item: "shadowed-routes",
			edit: replace("auth:\n  api_keys", "  - name: api-v1\n    match: { path_prefix: /api/v1 }\n    to: api\n    timeout: 2s\nauth:\n  api_keys"),
			at:   "policy.yaml:26:5", says: "route api-v1 is never reached: route api ("},
		{name: "a protected service behind a public route", item: "protected-services",
			edit: replace("auth:\n  api_keys", "  - name: site\n    match: { path_prefix: / }\n    to: admin\n    auth: { public: true }\nauth:\n  api_keys"),
			at:   "policy.yaml:26:5", says: "service admin is protected by route admin ("},
		{name: "a certificate expiring within 30 days", item: "certificates",
			edit:  replace("    port: 8080\n", "    port: 8080\n    tls: { certificates: [{ cert: certs/server.pem, key: certs/server-key.pem }] }\n"),
			extra: tlsFiles,
			at:    "policy.yaml:4:35", says: "certificate \"gateway.test\" expires"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			yaml := goodPolicy
			if c.edit != nil {
				yaml = c.edit(yaml)
			}
			keys := scopedKeys
			if c.keys != "" {
				keys = c.keys
			}
			r := byID(Static(loadCase(t, yaml, keys, c.extra), StaticOptions{CertDays: 30}), c.item)
			if r.Status != Fail {
				t.Fatalf("%s: %s, want fail; policy:\n%s", c.item, r.Status, yaml)
			}
			for _, f := range r.Findings {
				if strings.HasSuffix(f.At, "/"+c.at) && strings.Contains(f.Message, c.says) {
					return
				}
			}
			t.Errorf("%s: no finding at %s saying %q in %+v", c.item, c.at, c.says, r.Findings)
		})
	}
}

func replace(old, new string) func(string) string {
	return func(s string) string {
		if !strings.Contains(s, old) {
			panic("test edit: " + old + " is not in the policy")
		}
		return strings.Replace(s, old, new, 1)
	}
}

func appendText(more string) func(string) string {
	return func(s string) string { return s + more }
}

// certFiles is a server certificate (valid for a day) and its key, as
// policy files.
func certFiles(t *testing.T) map[string]string {
	t.Helper()
	ca, err := testcerts.NewCA("preflight test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(testcerts.Options{CommonName: "gateway.test", DNSNames: []string{"gateway.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"certs/server.pem": string(leaf.CertPEM), "certs/server-key.pem": string(leaf.KeyPEM)}
}

func TestCertificatesPassFarFromExpiry(t *testing.T) {
	yaml := replace("    port: 8080\n", "    port: 8080\n    tls: { certificates: [{ cert: certs/server.pem, key: certs/server-key.pem }] }\n")(goodPolicy)
	p := loadCase(t, yaml, scopedKeys, certFiles(t))
	if r := checkCertificates(p, StaticOptions{CertDays: 0}); r.Status != Pass {
		t.Errorf("a certificate valid for a day, --cert-days 0: %s %+v", r.Status, r.Findings)
	}
}

func TestRegexWitnessMatchesItsExpression(t *testing.T) {
	for _, expr := range []string{"^/users/[0-9]+$", "/a(b|c)*d", "/x/[a-z]{2,4}/y", `/v\d+/items`} {
		w, ok := regexWitness(expr)
		if !ok || !regexp.MustCompile(`^(?:`+expr+`)$`).MatchString(w) {
			t.Errorf("%s: witness %q (ok %v) does not match", expr, w, ok)
		}
	}
}
