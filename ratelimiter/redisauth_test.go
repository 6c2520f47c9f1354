package ratelimiter

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/internal/testenv"
)

const authLimitYAML = "rate_limits:\n  per-ip: { key: [client_ip], fixed_window: { limit: 2, window: 1h } }\n"

// redisPKI is a CA, a server certificate for redis.test and a client
// certificate, written as PEM files in a temporary directory.
type redisPKI struct {
	dir                            string
	ca, serverCert, serverKey      string
	clientCert, clientKey, otherCA string
}

func newRedisPKI(t *testing.T) redisPKI {
	t.Helper()
	dir := t.TempDir()
	p := redisPKI{dir: dir, ca: filepath.Join(dir, "ca.pem"), otherCA: filepath.Join(dir, "other-ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client-key.pem")}
	ca, err := testcerts.NewCA("redis test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testcerts.NewCA("someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue(testcerts.Options{CommonName: "redis.test", DNSNames: []string{"redis.test"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue(testcerts.Options{CommonName: "tollgate", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []error{
		testcerts.WriteFile(p.ca, ca.CertPEM), testcerts.WriteFile(p.otherCA, other.CertPEM),
		server.Write(p.serverCert, p.serverKey), client.Write(p.clientCert, p.clientKey),
	} {
		if w != nil {
			t.Fatal(w)
		}
	}
	return p
}

func writeSecret(t *testing.T, name, value string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// openForTest opens a store as `tollgate serve` does, failing closed, and
// returns a service over it with the store's log and metrics.
func openForTest(t *testing.T, c StoreConfig) (*Service, *testenv.Buffer, *Metrics) {
	t.Helper()
	c.Timeout, c.OnFailure = 2*time.Second, FailClosed
	logs, metrics := &testenv.Buffer{}, NewMetrics(nil)
	o, err := Open(c, slog.New(slog.NewTextHandler(logs, nil)), metrics)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.Close)
	return newService(t, authLimitYAML, o.Store, true, nil), logs, metrics
}

// admitsTwoOfThree checks that decisions are made by Redis: the limit of
// two admits two and refuses the third, none from the failure mode.
func admitsTwoOfThree(t *testing.T, s *Service, ip string) {
	t.Helper()
	for i, want := range []bool{true, true, false} {
		d := decide(t, s, desc("per-ip", "remote_address", ip))
		if d.Allowed != want || d.Statuses[0].Result.Fallback {
			t.Fatalf("decision %d: allowed=%v fallback=%v, want allowed=%v from Redis", i+1, d.Allowed, d.Statuses[0].Result.Fallback, want)
		}
	}
}

// failsClosed checks that the failure mode answers (fail_closed refuses),
// that the Redis error is counted, and that the log says why.
func failsClosed(t *testing.T, s *Service, logs *testenv.Buffer, metrics *Metrics, why string) {
	t.Helper()
	d := decide(t, s, desc("per-ip", "remote_address", "10.0.0.9"))
	if d.Allowed || !d.Statuses[0].Result.Fallback {
		t.Fatalf("allowed=%v fallback=%v, want a refusal from fail_closed", d.Allowed, d.Statuses[0].Result.Fallback)
	}
	if testutil.ToFloat64(metrics.redisErrors) == 0 {
		t.Error("tollgate_ratelimit_redis_errors_total did not count the failure")
	}
	if !strings.Contains(logs.String(), why) {
		t.Errorf("log does not say %q:\n%s", why, logs)
	}
}

// TestRedisTLSAndACLUser decides through a real redis-server that accepts
// only TLS clients with a certificate from its CA and only the ACL user
// tollgate (default user off), the password read from a file or from the
// environment; and shows each wrong credential failing into the failure
// mode with a clear error, the password never in the log.
func TestRedisTLSAndACLUser(t *testing.T) {
	pki := newRedisPKI(t)
	const password = "s3cret-pw-7f1e"
	srv := redistest.StartTLS(t, pki.serverCert, pki.serverKey, pki.ca, true,
		"--user", "default", "off", "--user", "tollgate", "on", ">"+password, "~*", "&*", "+@all")
	good := StoreConfig{Addrs: srv.TLSAddr, Username: "tollgate", Password: PasswordSource{File: writeSecret(t, "pw", password)},
		TLS: TLSFiles{Enabled: true, CA: pki.ca, Cert: pki.clientCert, Key: pki.clientKey, ServerName: "redis.test"}}

	t.Run("password file", func(t *testing.T) {
		s, logs, _ := openForTest(t, good)
		admitsTwoOfThree(t, s, "10.0.0.1")
		if strings.Contains(logs.String(), password) {
			t.Fatalf("the password is in the log:\n%s", logs)
		}
	})
	t.Run("password env", func(t *testing.T) {
		t.Setenv("TEST_REDIS_PW", password)
		c := good
		c.Password = PasswordSource{Env: "TEST_REDIS_PW"}
		s, _, _ := openForTest(t, c)
		admitsTwoOfThree(t, s, "10.0.0.2")
	})
	failures := []struct {
		name string
		edit func(*StoreConfig)
		why  string
	}{
		{"wrong password", func(c *StoreConfig) { c.Password.File = writeSecret(t, "pw", "not-it") }, "WRONGPASS"},
		{"no password", func(c *StoreConfig) { c.Password = PasswordSource{} }, "unauthenticated"},
		{"untrusted CA", func(c *StoreConfig) { c.TLS.CA = pki.otherCA }, "certificate signed by unknown authority"},
		{"wrong server name", func(c *StoreConfig) { c.TLS.ServerName = "other.test" }, "not other.test"},
		{"no client certificate", func(c *StoreConfig) { c.TLS.Cert, c.TLS.Key = "", "" }, "certificate required"},
		{"plaintext to the TLS port", func(c *StoreConfig) { c.TLS = TLSFiles{} }, "entering degraded mode"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			s, logs, metrics := openForTest(t, c)
			failsClosed(t, s, logs, metrics, tc.why)
		})
	}
}

// TestRedisPasswordMissingRefusesTheStore shows a password source that
// holds nothing refusing the store when it opens (a policy naming it is
// not applied), saying which variable or file, never a value.
func TestRedisPasswordMissingRefusesTheStore(t *testing.T) {
	for _, tc := range []struct {
		c    StoreConfig
		want string
	}{
		{StoreConfig{Addrs: "127.0.0.1:1", Password: PasswordSource{Env: "TEST_REDIS_PW_UNSET"}}, "environment variable TEST_REDIS_PW_UNSET is unset or empty"},
		{StoreConfig{Addrs: "127.0.0.1:1", Password: PasswordSource{File: "/nonexistent/pw"}}, "cannot read /nonexistent/pw: no such file or directory"},
		{StoreConfig{Addrs: "127.0.0.1:1", SentinelMaster: "m", SentinelPassword: PasswordSource{Env: "TEST_REDIS_PW_UNSET"}}, "sentinel: redis password: environment variable TEST_REDIS_PW_UNSET"},
		{StoreConfig{Addrs: "127.0.0.1:1", TLS: TLSFiles{Enabled: true, CA: "/nonexistent/ca.pem"}}, "redis tls ca: cannot read /nonexistent/ca.pem"},
	} {
		_, err := Open(tc.c, quiet, NewMetrics(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v, want an error containing %q", tc.c, err, tc.want)
		}
	}
}

// TestSentinelWithAuth reaches a password-protected master through a
// Sentinel that has its own password; a wrong Sentinel password fails
// into the failure mode.
func TestSentinelWithAuth(t *testing.T) {
	const masterPW, sentinelPW = "master-pw-31c", "sentinel-pw-9a2"
	master := redistest.Start(t, "--requirepass", masterPW)
	sentinel := redistest.StartSentinel(t, master, "tg", "sentinel auth-pass tg "+masterPW, "requirepass "+sentinelPW)
	t.Setenv("TEST_MASTER_PW", masterPW)
	good := StoreConfig{Addrs: sentinel.Addr, SentinelMaster: "tg", Password: PasswordSource{Env: "TEST_MASTER_PW"},
		SentinelPassword: PasswordSource{File: writeSecret(t, "sentinel-pw", sentinelPW)}}

	s, logs, _ := openForTest(t, good)
	admitsTwoOfThree(t, s, "10.0.0.1")
	if l := logs.String(); strings.Contains(l, masterPW) || strings.Contains(l, sentinelPW) {
		t.Fatalf("a password is in the log:\n%s", l)
	}

	bad := good
	bad.SentinelPassword = PasswordSource{File: writeSecret(t, "sentinel-pw", "not-it")}
	s, logs, metrics := openForTest(t, bad)
	failsClosed(t, s, logs, metrics, "WRONGPASS")
}

// TestSentinelOverTLS reaches a TLS master through a Sentinel that speaks
// only TLS to Tollgate (its plain port is for the test's readiness check)
// and to the master: the same TLS settings cover both connections.
func TestSentinelOverTLS(t *testing.T) {
	pki := newRedisPKI(t)
	master := redistest.StartTLS(t, pki.serverCert, pki.serverKey, pki.ca, false)
	tlsPort := freeLoopbackPort(t)
	redistest.StartSentinel(t, master, "tg",
		fmt.Sprintf("tls-port %d", tlsPort), "tls-cert-file "+pki.serverCert, "tls-key-file "+pki.serverKey,
		"tls-ca-cert-file "+pki.ca, "tls-auth-clients no", "tls-replication yes")
	c := StoreConfig{Addrs: fmt.Sprintf("127.0.0.1:%d", tlsPort), SentinelMaster: "tg",
		TLS: TLSFiles{Enabled: true, CA: pki.ca, ServerName: "redis.test"}}
	s, _, _ := openForTest(t, c)
	admitsTwoOfThree(t, s, "10.0.0.1")

	c.TLS.CA = pki.otherCA
	s, logs, metrics := openForTest(t, c)
	failsClosed(t, s, logs, metrics, "certificate signed by unknown authority")
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
