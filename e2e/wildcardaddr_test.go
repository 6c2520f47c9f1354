package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// wildcardPolicy uses every one of Tollgate's own gRPC services: the
// limited route needs an API key (ext_authz), allows two requests per
// key (rate limiting), and every request is logged over gRPC to Tollgate.
const wildcardPolicy = `
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - name: limited
    match: { path_prefix: /limited }
    to: api
    auth: { accept: [api_key] }
    rate_limits: [two]
rate_limits:
  two: { key: [client_id], fixed_window: { limit: 2, window: 1h } }
access_log: { grpc: true }
`

// TestWildcardGRPCAddressIsReachedOnLoopback runs `tollgate serve
// --grpc-addr` with a wildcard host, as the Dockerfile does (and "[::]",
// which Envoy reaches on ::1, where this machine has IPv6), and checks
// that a real Envoy accepts the clusters of Tollgate's services and that
// ext_authz, rate limiting and the gRPC access log all work. Before,
// tollgate_ratelimit and the access-log cluster carried the wildcard
// address, which Envoy rejects. Tollgate listens on every interface here,
// on a random port, in plaintext with --insecure-grpc (without it, serve
// refuses such an address: TestPlaintextGRPCOnlyOnLoopbackUnlessInsecure);
// all traffic still goes to loopback. mtls_test.go does the same over
// mutual TLS.
func TestWildcardGRPCAddressIsReachedOnLoopback(t *testing.T) {
	for _, form := range []string{":%s", "0.0.0.0:%s", "[::]:%s"} {
		t.Run(strings.TrimSuffix(form, "%s")+"PORT", func(t *testing.T) {
			requireEnvoy(t)
			if strings.HasPrefix(form, "[::]") && !ipv6Loopback() {
				t.Skip("no IPv6 loopback here: Envoy would dial ::1")
			}
			addr := freeAddr(t)
			base := "http://" + addr
			_, envoyPort, _ := net.SplitHostPort(addr)
			dir := policyDir(t, map[string]string{
				"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", envoyPort),
				"20-services.yaml":  servicesYAML(t, "api"),
				"30-policy.yaml":    wildcardPolicy,
			})
			key := writeKey(t, dir, "alice")
			_, grpcPort, _ := net.SplitHostPort(freeAddr(t))
			// Plaintext on every interface must be asked for: Envoy
			// still dials loopback, but other machines could connect.
			tg := startTollgateAt(t, dir, fmt.Sprintf(form, grpcPort), "--insecure-grpc")
			startEnvoy(t, "127.0.0.1:"+grpcPort, "default", false)
			waitService(t, base+"/health", nil, "api")

			if got := statuses(t, base+"/limited", 1, nil); got != "401" {
				t.Errorf("without a key: %s, want 401 from ext_authz", got)
			}
			if got := statuses(t, base+"/limited", 3, map[string]string{"X-API-Key": key}); got != "200,200,429" {
				t.Errorf("with a key: %s, want 200,200,429 from the rate-limit service", got)
			}
			eventually(t, 15*time.Second, func() error {
				for _, e := range accessEntries(tg.log.String()) {
					if e["route"] == "limited" && e["status"] == float64(429) {
						return nil
					}
				}
				return fmt.Errorf("no access-log entry of the refused request in Tollgate's output yet")
			})
			if strings.Contains(tg.log.String(), "Envoy rejected configuration") {
				t.Errorf("Envoy rejected Tollgate's configuration:\n%s", tg.log)
			}
		})
	}
}

// ipv6Loopback reports whether ::1 can be listened on.
func ipv6Loopback() bool {
	lis, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	lis.Close()
	return true
}

// writeKey adds an API key to the policy's keys/keys.yaml and returns it.
func writeKey(t *testing.T, dir, id string) string {
	t.Helper()
	kf := &authz.KeysFile{}
	plain, err := authz.AddKey(kf, authz.NewKeyOptions{ID: id}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := authz.WriteKeysFile(filepath.Join(dir, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
	return plain
}
