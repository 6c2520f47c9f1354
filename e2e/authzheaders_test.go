package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// customKeyHeaderPolicy takes API keys in a header of the policy's own
// naming, on a route whose limit the one ext_authz call decides.
const customKeyHeaderPolicy = `
auth:
  api_keys: { file: keys/keys.yaml, header: X-Client-Token }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [per-key] }
rate_limits:
  per-key: { key: [client_id], fixed_window: { limit: 2, window: 1h } }
`

// TestAuthzReceivesTheConfiguredKeyHeader checks, through a real Envoy,
// that the ext_authz filter, which sends Tollgate only the headers a
// decision reads, sends the API-key header the policy names: a key in
// X-Client-Token authenticates and is counted by the route's limit in the
// same call. Were the header left out of allowed_headers, every request
// would be answered 401.
func TestAuthzReceivesTheConfiguredKeyHeader(t *testing.T) {
	t.Parallel()
	requireEnvoy(t)
	addr := freeAddr(t)
	base := "http://" + addr
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    customKeyHeaderPolicy,
	})
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "alice"}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.WriteKeysFile(filepath.Join(dir, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
	tg := startTollgateWith(t, dir)
	startEnvoy(t, tg.grpcAddr, "default", false)
	waitService(t, base+"/health", nil, "api")
	if got := statuses(t, base+"/orders", 3, map[string]string{"X-Client-Token": key}); got != "200,200,429" {
		t.Errorf("key in X-Client-Token: %s, want 200,200,429", got)
	}
	if got := statuses(t, base+"/orders", 1, map[string]string{"X-API-Key": key}); got != "401" {
		t.Errorf("key in the default header, which this policy does not read: %s, want 401", got)
	}
}
