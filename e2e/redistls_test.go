package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testcerts"
)

// TestRateLimitsWithRedisOverTLSAndPassword runs Envoy, a control plane
// and a rate-limit service whose policy reaches Redis over TLS (CA and
// client certificate in certs/, beside the policy) as an ACL user whose
// password is in secrets/ (paths relative to the policy file). Decisions
// are Redis's; a wrong password in the file fails closed once connections
// are made again; a rotated password (Redis given a second one, the file
// rewritten) is picked up without a restart; no password is logged.
func TestRateLimitsWithRedisOverTLSAndPassword(t *testing.T) {
	requireEnvoy(t)
	dir := t.TempDir()
	ca, err := testcerts.NewCA("redis CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(testcerts.Options{CommonName: "redis.test", DNSNames: []string{"redis.test"}})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.Issue(testcerts.Options{CommonName: "tollgate", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	for _, err := range []error{
		testcerts.WriteFile(filepath.Join(certs, "ca.pem"), ca.CertPEM),
		clientCert.Write(filepath.Join(certs, "client.pem"), filepath.Join(certs, "client-key.pem")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	serverDir := t.TempDir()
	if err := server.Write(filepath.Join(serverDir, "server.pem"), filepath.Join(serverDir, "server-key.pem")); err != nil {
		t.Fatal(err)
	}
	const password, rotated = "first-pw-5d0c", "rotated-pw-81aa"
	srv := redistest.StartTLS(t, filepath.Join(serverDir, "server.pem"), filepath.Join(serverDir, "server-key.pem"), filepath.Join(certs, "ca.pem"), true,
		"--user", "default", "off", "--user", "tollgate", "on", ">"+password, "~*", "&*", "+@all")
	pwFile := filepath.Join(dir, "secrets", "redis-password")
	if err := testcerts.WriteFile(pwFile, []byte(password+"\n")); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	base := "http://" + addr
	writeFile(t, filepath.Join(dir, "10-listeners.yaml"), strings.ReplaceAll(listenerYAML, "{{PORT}}", addr[strings.LastIndex(addr, ":")+1:]))
	writeFile(t, filepath.Join(dir, "20-services.yaml"), servicesYAML(t, "api"))
	writeFile(t, filepath.Join(dir, "30-policy.yaml"), fmt.Sprintf(`
routes:
  - { name: open, match: { path_prefix: /open }, to: api }
  - { name: limited, match: { path_prefix: /limited }, to: api, rate_limits: [per-tenant] }
rate_limits:
  per-tenant: { key: [header:x-tenant], fixed_window: { limit: 2, window: 1h } }
rate_limit_store:
  on_failure: fail_closed
  redis:
    address: %s
    username: tollgate
    password_file: secrets/redis-password
    timeout: 1s
    tls: { ca: certs/ca.pem, cert: certs/client.pem, key: certs/client-key.pem, server_name: redis.test }
`, srv.TLSAddr))
	rl := startTollgateWith(t, dir, "--only", "ratelimit")
	cp := startTollgateWith(t, dir, "--only", "xds", "--ratelimit-address", rl.grpcAddr)
	startEnvoyWithAccessLog(t, cp.grpcAddr)
	waitService(t, base+"/open", nil, "api")

	// fail_closed would refuse the first request: two admitted then a 429
	// are Redis's decisions.
	if got := statuses(t, base+"/limited", 3, map[string]string{"x-tenant": "a"}); got != "200,200,429" {
		t.Fatalf("over TLS with the password: %s, want 200,200,429", got)
	}

	// Connections are made again (as after a Redis restart), with a wrong
	// password in the file: the failure mode refuses.
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "tollgate", Password: password})
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	kill := func() {
		t.Helper()
		if err := admin.Do(ctx, "CLIENT", "KILL", "USER", "tollgate", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := testcerts.WriteFile(pwFile, []byte("wrong-pw\n")); err != nil {
		t.Fatal(err)
	}
	kill()
	// The first call after the kill fails on its dead connection (EOF);
	// the probes that follow dial again and are refused (WRONGPASS),
	// which the log says while the failure mode refuses.
	eventually(t, 10*time.Second, func() error {
		if got := statuses(t, base+"/limited", 1, map[string]string{"x-tenant": "b"}); got != "429" {
			return fmt.Errorf("wrong password: %s, want 429 from fail_closed", got)
		}
		if !strings.Contains(rl.log.String(), "WRONGPASS") {
			return fmt.Errorf("the log does not say WRONGPASS yet")
		}
		return nil
	})
	if got := statuses(t, base+"/limited", 1, map[string]string{"x-tenant": "b"}); got != "429" {
		t.Fatalf("wrong password, after a probe was refused: %s, want 429 from fail_closed", got)
	}

	// Rotation: Redis accepts a second password, the file gets it; the
	// next probe's new connection reads it, without a restart.
	if err := admin.Do(ctx, "ACL", "SETUSER", "tollgate", ">"+rotated).Err(); err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(pwFile, []byte(rotated+"\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if got := statuses(t, base+"/limited", 1, map[string]string{"x-tenant": "c"}); got != "200" {
			return fmt.Errorf("rotated password: %s, want 200", got)
		}
		return nil
	})
	if got := statuses(t, base+"/limited", 2, map[string]string{"x-tenant": "c"}); got != "200,429" {
		t.Errorf("after rotation: %s, want 200,429 (the counter is Redis's)", got)
	}
	logs := rl.log.String()
	if !strings.Contains(logs, "recovered") {
		t.Errorf("the rate-limit service's log does not show the recovery:\n%s", logs)
	}
	for _, pw := range []string{password, rotated, "wrong-pw"} {
		if strings.Contains(logs, pw) {
			t.Errorf("a password is in the log:\n%s", logs)
		}
	}
}
