package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// beforeAuthPolicy puts a before_auth limit of 3 per client IP and route
// on two key-protected routes; /login also has an after_auth limit of 1
// per key.
const beforeAuthPolicy = `
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [guard] }
  - { name: login, match: { path_prefix: /login }, to: api, auth: { accept: [api_key] }, rate_limits: [guard, per-key] }
rate_limits:
  guard: { stage: before_auth, key: [client_ip, route], fixed_window: { limit: 3, window: 1h } }
  per-key: { key: [client_id], fixed_window: { limit: 1, window: 1h } }
`

// TestBeforeAuthLimitStopsCredentialFlood sends bad API keys through a
// real Envoy: the before_auth limit refuses them once spent, before they
// reach Tollgate's authz service, and it counts every request that
// reaches it, valid keys and requests refused later included.
func TestBeforeAuthLimitStopsCredentialFlood(t *testing.T) {
	t.Parallel()
	requireEnvoy(t)
	addr := freeAddr(t)
	base := "http://" + addr
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    beforeAuthPolicy,
	})
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "alice"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.WriteKeysFile(filepath.Join(dir, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
	tg := startTollgateWith(t, dir)
	accessLog := startEnvoyWithAccessLog(t, tg.grpcAddr)
	waitService(t, base+"/health", nil, "api")
	good := map[string]string{"X-API-Key": key}
	bad := map[string]string{"X-API-Key": "tg_alice_" + strings.Repeat("a", 32)}

	t.Run("a bad-key flood stops reaching authz", func(t *testing.T) {
		before := authzDecisions(t, tg)
		if got := statuses(t, base+"/orders", 6, bad); got != "401,401,401,429,429,429" {
			t.Fatalf("bad keys: %s", got)
		}
		if n := authzDecisions(t, tg) - before; n != 3 {
			t.Errorf("authz decided %d requests, want 3: the refused flood still reached it", n)
		}
		// The refusal is the usual 429, naming the before_auth limit.
		resp, body := get(t, base+"/orders", bad)
		if got, want := sfListString(t, resp.Header, "RateLimit-Policy"), `"guard";q=3;w=3600`; got != want {
			t.Errorf("RateLimit-Policy parses as %s, want %s", got, want)
		}
		checkRateLimit(t, resp.Header, "guard", 0, 3600)
		if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("no Retry-After or Content-Type: %v", resp.Header)
		}
		var reply struct{ Error, Limit string }
		if err := json.Unmarshal(body, &reply); err != nil || reply.Error != "rate_limited" || reply.Limit != "guard" {
			t.Errorf("status %d body %s (%v)", resp.StatusCode, body, err)
		}
		// A valid key from the same address is refused too: before
		// authentication nobody is known.
		if got := statuses(t, base+"/orders", 1, good); got != "429" {
			t.Errorf("valid key after the flood: %s", got)
		}
	})

	t.Run("every request that reaches the limit counts", func(t *testing.T) {
		// 1: admitted. 2: refused by per-key after authentication, yet
		// charged to guard. 3: 401, charged. 4: guard is spent.
		got := []string{statuses(t, base+"/login", 2, good), statuses(t, base+"/login", 1, bad), statuses(t, base+"/login", 1, good)}
		if s := strings.Join(got, ","); s != "200,429,401,429" {
			t.Fatalf("login: %s", s)
		}
		eventually(t, 5*time.Second, func() error {
			for _, want := range []string{`"rate_limit":"per-key"`, `"rate_limit":"guard"`} {
				if !strings.Contains(grepLines(accessLog.String(), `"/login`), want) {
					return fmt.Errorf("no /login access log line with %s in:\n%s", want, accessLog)
				}
			}
			return nil
		})
	})
}

// authzDecisions sums tollgate_authz_decisions_total over its labels.
func authzDecisions(t *testing.T, tg *tollgate) int {
	t.Helper()
	_, body, err := httpGet(tg.adminURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "tollgate_authz_decisions_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}
