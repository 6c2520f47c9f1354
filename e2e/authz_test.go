package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/demoservice"
)

// idp is a local identity provider: a JWKS endpoint on loopback whose
// keys a test replaces, or takes down.
type idp struct {
	body atomic.Pointer[[]byte]
	down atomic.Bool
	*httptest.Server
}

func startIDP(t *testing.T, keys ...*authtest.Key) *idp {
	t.Helper()
	p := &idp{}
	p.publish(keys...)
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if p.down.Load() {
			http.Error(w, "identity provider down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*p.body.Load())
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) publish(keys ...*authtest.Key) {
	b := authtest.JWKS(keys...)
	p.body.Store(&b)
}

// authGateway is a gateway whose Tollgate also answers ext_authz.
type authGateway struct {
	base     string
	dir      string
	keysFile string
	tollgate *tollgate
	envoy    *envoy.Process
}

// startAuthGateway writes the policy ({{PORT}}, {{JWKS}} and {{JWKS2}}
// replaced) and the keys file, starts Tollgate with extra serve flags and
// an Envoy, and waits until probePath answers 200.
func startAuthGateway(t *testing.T, policy string, jwks, jwks2 string, keysFile *authz.KeysFile, probePath string, extra ...string) *authGateway {
	t.Helper()
	requireEnvoy(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	r := strings.NewReplacer("{{PORT}}", port, "{{JWKS}}", jwks, "{{JWKS2}}", jwks2)
	g := &authGateway{base: "http://" + addr, dir: policyDir(t, map[string]string{"gateway.yaml": r.Replace(policy)})}
	g.keysFile = filepath.Join(g.dir, "keys", "keys.yaml")
	if err := authz.WriteKeysFile(g.keysFile, keysFile); err != nil {
		t.Fatal(err)
	}
	g.tollgate = startTollgateWith(t, g.dir, extra...)
	g.envoy = startEnvoy(t, g.tollgate.grpcAddr, "default", false)
	waitService(t, g.base+probePath, nil, "")
	return g
}

// denial is a refused request as the client sees it.
type denial struct {
	status    int
	challenge string
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// authSend makes one request through the gateway and returns the demo
// service's reply on 200, or the denial.
func authSend(t *testing.T, url string, headers map[string]string) (reply, *denial) {
	t.Helper()
	resp, body := mustRoundTrip(t, "GET", url, headers, "")
	var r reply
	if resp.StatusCode == 200 {
		_ = json.Unmarshal(body, &r)
		return r, nil
	}
	d := &denial{status: resp.StatusCode, challenge: resp.Header.Get("WWW-Authenticate")}
	_ = json.Unmarshal(body, d)
	return r, d
}

func status(d *denial) int {
	if d == nil {
		return 200
	}
	return d.status
}

func bearerHeader(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

const jwtPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM] }
auth:
  jwt:
    - issuer: https://idp.test
      jwks_uri: {{JWKS}}
      audiences: [orders-api]
      algorithms: [RS256, ES256]
      leeway: 1s
      refresh_interval: 500ms
      max_stale: 1h
      roles_claim: realm_access.roles
      tier_claim: plan
      claims_to_headers: { sub: x-user-id, email: x-email }
    - issuer: https://flaky.test
      jwks_uri: {{JWKS2}}
      refresh_interval: 200ms
      max_stale: 1s
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: admin, match: { path_prefix: /admin }, to: api, auth: { accept: [jwt], roles: [admin] } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [jwt], scopes: [orders:read] } }
`

func TestJWTThroughEnvoy(t *testing.T) {
	t.Parallel()
	rsa1, ec1 := authtest.NewRSA("rsa-1"), authtest.NewEC("ec-1")
	main, flaky := startIDP(t, rsa1, ec1), startIDP(t, ec1)
	policy := strings.Replace(jwtPolicy, "UPSTREAM", upstream(t, "api", 1, nil)[0], 1)
	g := startAuthGateway(t, policy, main.URL, flaky.URL, &authz.KeysFile{}, "/health")
	orders := g.base + "/orders/1"

	good := authtest.Standard("https://idp.test", "orders-api", "alice", "orders:read profile").
		With("email", "alice@example.com", "plan", "pro", "realm_access", map[string]any{"roles": []any{"user"}})

	// A valid token passes, with the identity and claim headers at the
	// service, and client-sent copies of them replaced.
	r, d := authSend(t, orders, map[string]string{"Authorization": "Bearer " + rsa1.Sign(good),
		"x-user-id": "mallory", "X-Tollgate-Client-Id": "admin", "x-tollgate-tier": "enterprise"})
	if d != nil {
		t.Fatalf("valid RS256 token refused: %+v", d)
	}
	want := map[string]string{"x-user-id": "alice", "x-email": "alice@example.com", "x-tollgate-auth": "jwt",
		"x-tollgate-client-id": "user:alice", "x-tollgate-user": "alice", "x-tollgate-tier": "pro", "x-tollgate-scopes": "orders:read profile"}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("service got %s=%q, want %q", k, r.Headers[k], v)
		}
	}
	if _, d := authSend(t, orders, bearerHeader(ec1.Sign(good))); d != nil {
		t.Errorf("valid ES256 token refused: %+v", d)
	}

	// Every bad token is a 401 with a challenge and a JSON body naming
	// the request, and says nothing about what was wrong.
	now := time.Now()
	bad := map[string]string{
		"expired":           rsa1.Sign(good.With("exp", now.Add(-time.Minute).Unix())),
		"not yet valid":     rsa1.Sign(good.With("nbf", now.Add(time.Minute).Unix())),
		"wrong issuer":      rsa1.Sign(good.With("iss", "https://evil.test")),
		"wrong audience":    rsa1.Sign(good.With("aud", "billing-api")),
		"alg none":          authtest.None("rsa-1", good),
		"HS256 with RSA pk": rsa1.HS256WithPublicKey(good),
		"tampered payload":  authtest.Tamper(rsa1.Sign(good), good.With("sub", "mallory")),
		"unknown key":       authtest.NewRSA("rsa-9").Sign(good),
		"garbage":           "not-a-token",
	}
	for name, tok := range bad {
		_, d := authSend(t, orders, bearerHeader(tok))
		switch {
		case status(d) != 401:
			t.Errorf("%s: status %d, want 401", name, status(d))
		case !strings.HasPrefix(d.challenge, "Bearer ") || d.Error != "invalid_token" || d.RequestID == "":
			t.Errorf("%s: challenge %q body %+v", name, d.challenge, d)
		case d.Message != "the bearer token is not valid":
			t.Errorf("%s: the message says too much: %q", name, d.Message)
		}
	}
	if _, d := authSend(t, orders, nil); status(d) != 401 || !strings.HasPrefix(d.challenge, "Bearer ") {
		t.Errorf("no token: %+v", d)
	}

	// Valid tokens without the scope or role: 403.
	if _, d := authSend(t, orders, bearerHeader(rsa1.Sign(good.With("scope", "profile")))); status(d) != 403 || d.Error != "insufficient_scope" {
		t.Errorf("missing scope: %+v", d)
	}
	if _, d := authSend(t, g.base+"/admin", bearerHeader(rsa1.Sign(good))); status(d) != 403 || d.Error != "insufficient_role" {
		t.Errorf("missing role: %+v", d)
	}
	admin := good.With("realm_access", map[string]any{"roles": []any{"admin"}})
	if _, d := authSend(t, g.base+"/admin", bearerHeader(rsa1.Sign(admin))); d != nil {
		t.Errorf("admin role refused: %+v", d)
	}

	// Public routes skip authorization, but still lose forged headers.
	r, d = authSend(t, g.base+"/health", map[string]string{"x-user-id": "mallory", "x-tollgate-auth": "jwt"})
	if d != nil || r.Headers["x-user-id"] != "" || r.Headers["x-tollgate-auth"] != "" {
		t.Errorf("public route: %+v, headers %v", d, r.Headers)
	}

	// Rotation without restart: a new key is published; its tokens pass
	// once Tollgate refetched (the unknown kid triggers it), and the old
	// key keeps passing while it is still published.
	rsa2 := authtest.NewRSA("rsa-2")
	main.publish(rsa1, ec1, rsa2)
	eventually(t, 10*time.Second, func() error {
		if _, d := authSend(t, orders, bearerHeader(rsa2.Sign(good))); d != nil {
			return fmt.Errorf("new key: %d", d.status)
		}
		return nil
	})
	oldTok := rsa1.Sign(good.With("jti", "old-key"))
	if _, d := authSend(t, orders, bearerHeader(oldTok)); d != nil {
		t.Errorf("the old key stopped passing while published: %+v", d)
	}
	// Removing the old key ends it, cached tokens included.
	main.publish(ec1, rsa2)
	eventually(t, 10*time.Second, func() error {
		if _, d := authSend(t, orders, bearerHeader(oldTok)); status(d) != 401 {
			return fmt.Errorf("old key after removal: %d", status(d))
		}
		return nil
	})

	// The identity provider goes down: cached keys keep working (max_stale
	// 1h). The flaky provider (max_stale 1s) goes into its outage mode:
	// 503, not a 401 blaming the client.
	flakyTok := ec1.Sign(good.With("iss", "https://flaky.test"))
	if _, d := authSend(t, orders, bearerHeader(flakyTok)); d != nil {
		t.Fatalf("flaky provider's token refused while it is up: %+v", d)
	}
	main.down.Store(true)
	flaky.down.Store(true)
	eventually(t, 10*time.Second, func() error {
		if _, d := authSend(t, orders, bearerHeader(flakyTok)); status(d) != 503 || d.Error != "auth_unavailable" {
			return fmt.Errorf("flaky provider beyond max_stale: %+v", d)
		}
		return nil
	})
	if _, d := authSend(t, orders, bearerHeader(rsa2.Sign(good.With("jti", "during-outage")))); d != nil {
		t.Errorf("JWKS down: a fresh token of a cached key was refused: %+v", d)
	}
	// The gauge follows the background fetcher (every refresh_interval),
	// which may run just after the request that found the keys stale.
	eventually(t, 5*time.Second, func() error {
		if v := g.tollgate.metric(t, `tollgate_authz_jwks_stale{issuer="https://flaky.test"}`); v != "1" {
			return fmt.Errorf("stale alert metric = %q, want 1", v)
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if v := g.tollgate.metric(t, `tollgate_authz_jwks_fetches_total{issuer="https://idp.test",result="error"}`); v == "" || v == "0" {
			_, body, _ := httpGet(g.tollgate.adminURL("/metrics"), nil)
			return fmt.Errorf("JWKS fetch failures not counted: %q\n%s", v, grepLines(string(body), "jwks"))
		}
		return nil
	})
}

const keysPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM_API] }
  billing: { endpoints: [UPSTREAM_BILLING] }
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: open, match: { path_prefix: /open }, to: api, auth: { accept: [anonymous, api_key] } }
  - { name: billing, match: { path_prefix: /billing }, to: billing, auth: { accept: [api_key] } }
  - { name: write, match: { path_prefix: /write }, to: api, auth: { accept: [api_key], scopes: [orders:write] } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key], scopes: [orders:read] } }
  - { name: feed, match: { path_prefix: /feed }, to: api, auth: { accept: [api_key], allow_query: true } }
`

func TestAPIKeysThroughEnvoy(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	plain := map[string]string{}
	for _, k := range []authz.NewKeyOptions{
		{ID: "partner", Scopes: []string{"orders:read"}, Tier: "gold", Services: []string{"api"}},
		{ID: "gone", Scopes: []string{"orders:read"}},
		{ID: "old", Scopes: []string{"orders:read"}, Expires: time.Second},
	} {
		key, err := authz.AddKey(kf, k, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		plain[k.ID] = key
	}
	if err := authz.Revoke(kf, "gone", time.Now()); err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "UPSTREAM_BILLING", upstream(t, "billing", 1, nil)[0]).Replace(keysPolicy)
	g := startAuthGateway(t, policy, "", "", kf, "/health", "--key-usage-flush", "100ms")
	orders := g.base + "/orders"
	key := func(k string) map[string]string { return map[string]string{"X-API-Key": k} }

	r, d := authSend(t, orders, map[string]string{"X-API-Key": plain["partner"], "x-tollgate-client-id": "admin", "X-Tollgate-Tier": "enterprise"})
	if d != nil {
		t.Fatalf("valid key refused: %+v", d)
	}
	want := map[string]string{"x-tollgate-auth": "api_key", "x-tollgate-client-id": "partner", "x-tollgate-tier": "gold", "x-tollgate-scopes": "orders:read"}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("service got %s=%q, want %q", k, r.Headers[k], v)
		}
	}
	if r.Headers["x-api-key"] != "" {
		t.Error("the API key was forwarded to the service")
	}
	if _, d := authSend(t, orders, map[string]string{"Authorization": "ApiKey " + plain["partner"]}); d != nil {
		t.Errorf("Authorization: ApiKey refused: %+v", d)
	}

	// Where a route allows it, the key may come in the query string; it is
	// removed before the request reaches the service.
	code, body, err := httpGet(g.base+"/feed?page=2&api_key="+plain["partner"], nil)
	var echo demoservice.Reply
	_ = json.Unmarshal(body, &echo)
	if err != nil || code != 200 || echo.Query != "page=2" || echo.Headers["x-tollgate-client-id"] != "partner" {
		t.Errorf("key in the query where allowed: %d %v, query %q", code, err, echo.Query)
	}

	wrongSecret := plain["partner"][:len(plain["partner"])-6] + "aaaaaa"
	for name, tc := range map[string]struct {
		url     string
		headers map[string]string
		status  int
		code    string
	}{
		"unknown key":         {orders, key("tg_stranger_" + strings.Repeat("a", 32)), 401, "invalid_api_key"},
		"wrong secret":        {orders, key(wrongSecret), 401, "invalid_api_key"},
		"revoked key":         {orders, key(plain["gone"]), 401, "invalid_api_key"},
		"expired key":         {orders, key(plain["old"]), 401, "invalid_api_key"},
		"no key":              {orders, nil, 401, "unauthorized"},
		"key in query":        {orders + "?api_key=" + plain["partner"], nil, 401, "unauthorized"},
		"wrong scope":         {g.base + "/write", key(plain["partner"]), 403, "insufficient_scope"},
		"service not allowed": {g.base + "/billing", key(plain["partner"]), 403, "forbidden"},
	} {
		_, d := authSend(t, tc.url, tc.headers)
		if status(d) != tc.status || d.Error != tc.code || d.RequestID == "" {
			t.Errorf("%s: got %+v, want %d %s", name, d, tc.status, tc.code)
			continue
		}
		if tc.status == 401 && !strings.HasPrefix(d.challenge, "ApiKey ") {
			t.Errorf("%s: WWW-Authenticate %q", name, d.challenge)
		}
		if strings.Contains(d.Message, "secret") || strings.Contains(d.Message, "revoked") || strings.Contains(d.Message, "expired") {
			t.Errorf("%s: the message says why the key failed: %q", name, d.Message)
		}
	}

	// Anonymous where allowed: no client id, and forged headers are gone.
	r, d = authSend(t, g.base+"/open", map[string]string{"x-tollgate-client-id": "admin", "x-tollgate-auth": "api_key"})
	if d != nil || r.Headers["x-tollgate-auth"] != "anonymous" || r.Headers["x-tollgate-client-id"] != "" {
		t.Errorf("anonymous: %+v headers %v", d, r.Headers)
	}

	// Neither the keys file nor the policy holds a plaintext key, and
	// neither do Tollgate's logs.
	for _, f := range []string{g.keysFile, filepath.Join(g.dir, "gateway.yaml")} {
		data, _ := os.ReadFile(f)
		for id, k := range plain {
			if strings.Contains(string(data), k) || strings.Contains(string(data), k[len(k)-32:]) {
				t.Errorf("%s holds key %s in plaintext", f, id)
			}
		}
	}

	// Revoking with the CLI reloads without a restart.
	out, err := exec.Command(tollgateBin, "keys", "revoke", "partner", "--file", g.keysFile).CombinedOutput()
	if err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	eventually(t, 10*time.Second, func() error {
		if _, d := authSend(t, orders, key(plain["partner"])); status(d) != 401 {
			return fmt.Errorf("revoked key: status %d", status(d))
		}
		return nil
	})

	// The last use was flushed beside the keys file and shows in the list.
	eventually(t, 5*time.Second, func() error {
		out, err := exec.Command(tollgateBin, "keys", "list", "--file", g.keysFile).CombinedOutput()
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "partner ") {
				line = l
			}
		}
		if err != nil || !strings.Contains(line, "revoked") || strings.HasSuffix(strings.TrimSpace(line), "-") {
			return fmt.Errorf("keys list: %v\n%s", err, out)
		}
		return nil
	})
	for id, k := range plain {
		if strings.Contains(g.tollgate.log.String(), k[len(k)-32:]) {
			t.Errorf("Tollgate's log holds key %s", id)
		}
	}
}

const unreachablePolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  api: { endpoints: [UPSTREAM] }
auth:
  api_keys: { file: keys/keys.yaml }
  failure_mode: MODE
  timeout: 250ms
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api }
`

// With Tollgate's authorization service unreachable, protected routes are
// refused by default (fail closed) and allowed where the policy says so.
func TestAuthzUnreachable(t *testing.T) {
	t.Parallel()
	api := upstream(t, "api", 1, nil)[0]
	policy := strings.Replace(unreachablePolicy, "UPSTREAM", api, 1)
	// Nothing listens on the authz address: only xDS is served.
	g := startAuthGateway(t, strings.Replace(policy, "MODE", "deny", 1), "", "", &authz.KeysFile{}, "/health",
		"--only", "xds", "--authz-address", freeAddr(t))
	if _, d := authSend(t, g.base+"/orders", nil); status(d) != 503 {
		t.Errorf("authz unreachable, fail closed: status %d, want 503", status(d))
	}
	// The policy switches to fail open: the same request passes, with no
	// identity. The failure mode is listener configuration, so Envoy
	// replaces the listener; with the drain strategy Tollgate runs Envoy
	// with (envoy.RecommendedFlags), a kept-alive client is moved to the
	// new listener by its next request, not minutes later.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	modified := func() int64 {
		stats, err := g.envoy.Stats(ctx, "listener_manager.listener_modified")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(stats["listener_manager.listener_modified"], 10, 64)
		return n
	}
	before := modified()
	writeFile(t, filepath.Join(g.dir, "gateway.yaml"), strings.Replace(strings.ReplaceAll(policy, "{{PORT}}", g.base[strings.LastIndex(g.base, ":")+1:]), "MODE", "allow", 1))
	if err := g.envoy.WaitForStat(ctx, "listener_manager.listener_modified", func(v int64) bool { return v > before }); err != nil {
		t.Fatalf("Envoy did not replace the listener: %v", err)
	}
	// The first request may still finish on the old listener (and its
	// connection then closes); the second must be on the new one.
	var got []int
	for range 2 {
		r, d := authSend(t, g.base+"/orders", nil)
		if d != nil {
			got = append(got, d.status)
			continue
		}
		got = append(got, 200)
		if r.Headers["x-tollgate-auth"] != "" {
			t.Errorf("identity without authorization: %v", r.Headers)
		}
	}
	if got[len(got)-1] != 200 {
		t.Errorf("after the switch to fail open, a kept-alive client got %v, want 200 by its second request", got)
	}
	// Failing open lets requests through unchecked, never with their
	// credentials: Envoy removes them without Tollgate's answer.
	secret := "tg_partner_" + strings.Repeat("q", 32)
	status, body := rawSend(t, g.base+"/orders?api_key="+secret, map[string]string{"X-API-Key": secret, "Authorization": "ApiKey " + secret})
	if status != 200 || strings.Contains(body, secret) {
		t.Errorf("fail open with credentials: status %d, the service received: %s", status, body)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
