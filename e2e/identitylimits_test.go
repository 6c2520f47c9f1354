package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testenv"
)

// identityLimitsPolicy joins authentication and rate limiting: the authz
// filter establishes who calls (API key, JWT or anonymous) and the limits
// count by it. Each route has its own limits so the cases do not share
// counters.
const identityLimitsPolicy = `
auth:
  api_keys: { file: keys/keys.yaml }
  jwt:
    - { issuer: https://idp.test, jwks_file: keys/jwks.json, audiences: [api] }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - name: mixed
    match: { path_prefix: /mixed }
    to: api
    auth: { accept: [anonymous, api_key] }
    rate_limits: [per-ip-anonymous, per-client]
  - name: plans
    match: { path_prefix: /plans }
    to: api
    auth: { accept: [api_key] }
    rate_limits: [gold, free]
  - name: me
    match: { path_prefix: /me }
    to: api
    auth: { accept: [jwt] }
    rate_limits: [per-user]
rate_limits:
  per-ip-anonymous: { when: anonymous, key: [client_ip], fixed_window: { limit: 3, window: 1h } }
  per-client: { when: authenticated, key: [client_id], fixed_window: { limit: 6, window: 1h } }
  gold: { key: [client_id], fixed_window: { limit: 50, window: 1h } }
  free: { key: [client_id], fixed_window: { limit: 2, window: 1h } }
  per-user: { key: [user], sliding_window: { limit: 2, window: 1h } }
tiers:
  gold: { rate_limits: [gold] }
  free: { rate_limits: [free] }
`

// identityGateway is one `tollgate serve` (xDS, authz, ratelimit) on a
// real Redis, a real Envoy whose stdout is the access log, and the keys
// and token signer the test calls with.
type identityGateway struct {
	base      string
	accessLog *testenv.Buffer
	keys      map[string]string // key id → plaintext
	signer    *authtest.Key
}

func startIdentityGateway(t *testing.T) *identityGateway {
	t.Helper()
	requireEnvoy(t)
	rdb := redistest.Start(t)
	addr := freeAddr(t)
	g := &identityGateway{base: "http://" + addr, keys: map[string]string{}, signer: authtest.NewRSA("rsa-1")}
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    identityLimitsPolicy,
	})
	kf := &authz.KeysFile{}
	for _, k := range []authz.NewKeyOptions{{ID: "alice", Tier: "gold"}, {ID: "goldie", Tier: "gold"}, {ID: "freddie", Tier: "free"}} {
		plain, err := authz.AddKey(kf, k, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		g.keys[k.ID] = plain
	}
	if err := authz.WriteKeysFile(filepath.Join(dir, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", "jwks.json"), authtest.JWKS(g.signer), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := startTollgateWith(t, dir, "--redis", rdb.Addr)
	g.accessLog = startEnvoyWithAccessLog(t, tg.grpcAddr)
	waitService(t, g.base+"/health", nil, "api")
	return g
}

func (g *identityGateway) key(id string, extra ...string) map[string]string {
	h := map[string]string{"X-API-Key": g.keys[id]}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// TestIdentityKeysRateLimits checks the contract between the authz
// service and the rate limiter through a real Envoy and a real Redis: the
// identity authz sets is what the limits count by, and a client cannot
// choose it.
func TestIdentityKeysRateLimits(t *testing.T) {
	// Serial: every decision must reach Redis within --redis-timeout
	// (50 ms), or fail_open admits what the test expects refused.
	g := startIdentityGateway(t)
	mixed := g.base + "/mixed"

	t.Run("anonymous per IP below the per-key limit", func(t *testing.T) {
		// Three anonymous requests, then 429, also with forged identity
		// headers and a forged client address (the client cannot become
		// authenticated or another IP by saying so).
		if got := statuses(t, mixed, 4, nil); got != "200,200,200,429" {
			t.Fatalf("anonymous: %s", got)
		}
		forged := map[string]string{"x-tollgate-auth": "api_key", "x-tollgate-client-id": "alice", "x-tollgate-tier": "gold", "X-Forwarded-For": "203.0.113.7"}
		if got := statuses(t, mixed, 1, forged); got != "429" {
			t.Errorf("anonymous with forged identity and address: %s", got)
		}
		// A key holder on the same IP is counted by its key: six, then 429.
		if got := statuses(t, mixed, 7, g.key("alice")); got != "200,200,200,200,200,200,429" {
			t.Errorf("key holder after the anonymous refusal: %s", got)
		}
		// The anonymous client is still refused: the key's traffic did not
		// reset or use the per-IP counter.
		if got := statuses(t, mixed, 1, nil); got != "429" {
			t.Errorf("anonymous again: %s", got)
		}
	})

	t.Run("tiers: the free key is refused first", func(t *testing.T) {
		if got := statuses(t, g.base+"/plans", 3, g.key("freddie")); got != "200,200,429" {
			t.Errorf("free: %s", got)
		}
		// Claiming gold, or another client id, changes nothing.
		forged := g.key("freddie", "x-tollgate-tier", "gold", "x-tollgate-client-id", "goldie", "x-tollgate-auth", "jwt")
		if got := statuses(t, g.base+"/plans", 1, forged); got != "429" {
			t.Errorf("free key claiming gold: %s", got)
		}
		if got := statuses(t, g.base+"/plans", 5, g.key("goldie")); got != "200,200,200,200,200" {
			t.Errorf("gold: %s", got)
		}
	})

	t.Run("a JWT user is limited per user", func(t *testing.T) {
		claims := authtest.Standard("https://idp.test", "api", "ann", "")
		bearer := func(c authtest.Claims) map[string]string { return bearerHeader(g.signer.Sign(c)) }
		if got := statuses(t, g.base+"/me", 2, bearer(claims)); got != "200,200" {
			t.Fatalf("ann: %s", got)
		}
		// A fresh token of the same user shares the counter; another user
		// has their own.
		if got := statuses(t, g.base+"/me", 1, bearer(claims.With("jti", "second"))); got != "429" {
			t.Errorf("ann, second token: %s", got)
		}
		if got := statuses(t, g.base+"/me", 1, bearer(claims.With("sub", "ben"))); got != "200" {
			t.Errorf("ben: %s", got)
		}
	})

	t.Run("the 429 explains itself", func(t *testing.T) {
		resp, body := get(t, g.base+"/plans", g.key("freddie"))
		if resp.StatusCode != 429 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got, want := sfListString(t, resp.Header, "RateLimit-Policy"), `"free";q=2;w=3600`; got != want {
			t.Errorf("RateLimit-Policy parses as %s, want %s", got, want)
		}
		checkRateLimit(t, resp.Header, "free", 0, 3600)
		if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("missing Retry-After or Content-Type: %v", resp.Header)
		}
		var reply struct{ Error, Limit string }
		if err := json.Unmarshal(body, &reply); err != nil || reply.Error != "rate_limited" || reply.Limit != "free" {
			t.Errorf("body %s (%v)", body, err)
		}
	})

	t.Run("the access log names the client and the limit", func(t *testing.T) {
		eventually(t, 5*time.Second, func() error {
			want := map[string]bool{"freddie/free": false, "alice/per-client": false, "user:ann/per-user": false, "/per-ip-anonymous": false}
			for _, line := range strings.Split(g.accessLog.String(), "\n") {
				var e struct {
					Status    int
					ClientID  *string `json:"client_id"`
					RateLimit string  `json:"rate_limit"`
				}
				if json.Unmarshal([]byte(line), &e) != nil || e.Status != 429 {
					continue
				}
				id := ""
				if e.ClientID != nil {
					id = *e.ClientID
				}
				if e.RateLimit == "per-ip-anonymous" && id != "" {
					t.Fatalf("a forged client id reached the log: %s", line)
				}
				want[id+"/"+e.RateLimit] = true
			}
			for k, seen := range want {
				if !seen {
					return fmt.Errorf("no 429 access log line with client_id/rate_limit %s in:\n%s", k, g.accessLog)
				}
			}
			return nil
		})
	})
}
