package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/internal/testenv"
)

// grpcPKI is the certificates of Tollgate's gRPC port: a CA, Tollgate's
// server certificate for 127.0.0.1 (the address Envoy dials), and the
// files `serve --grpc-tls-*` reads.
type grpcPKI struct {
	ca                    *testcerts.CA
	dir                   string
	serverCert, serverKey string
	clientCA              string
	serverSerial          string
}

func newGRPCPKI(t *testing.T) *grpcPKI {
	t.Helper()
	ca, err := testcerts.NewCA("tollgate gRPC CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &grpcPKI{ca: ca, dir: dir,
		serverCert: filepath.Join(dir, "server", "tls.crt"), serverKey: filepath.Join(dir, "server", "tls.key"),
		clientCA: filepath.Join(dir, "server", "client-ca.crt")}
	p.issueServer(t)
	if err := testcerts.WriteFile(p.clientCA, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

// issueServer writes a new server certificate in place of the current one.
func (p *grpcPKI) issueServer(t *testing.T) {
	t.Helper()
	leaf, err := p.ca.Issue(testcerts.Options{CommonName: "tollgate", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	p.serverSerial = leaf.Cert.SerialNumber.String()
}

// serveFlags are `tollgate serve`'s flags for mutual TLS.
func (p *grpcPKI) serveFlags() []string {
	return []string{"--grpc-tls-cert", p.serverCert, "--grpc-tls-key", p.serverKey, "--grpc-client-ca", p.clientCA}
}

// envoyFiles writes a client certificate signed by ca for an Envoy called
// name, with the bundle it trusts Tollgate by (this PKI's CA).
func (p *grpcPKI) envoyFiles(t *testing.T, ca *testcerts.CA, name string) (*envoy.TLSFiles, *testcerts.Leaf) {
	t.Helper()
	leaf, err := ca.Issue(testcerts.Options{CommonName: name, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	f := &envoy.TLSFiles{CertFile: filepath.Join(p.dir, name, "tls.crt"), KeyFile: filepath.Join(p.dir, name, "tls.key"), CAFile: filepath.Join(p.dir, name, "ca.crt")}
	if err := leaf.Write(f.CertFile, f.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(f.CAFile, p.ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	return f, leaf
}

// startEnvoyTLS starts an Envoy reaching Tollgate with files (plaintext if
// nil); it waits for its configuration only when live is set.
func startEnvoyTLS(t *testing.T, xdsAddr string, files *envoy.TLSFiles, live bool) *envoy.Process {
	t.Helper()
	log := &testenv.Buffer{}
	p, err := envoy.Start(context.Background(), envoy.Config{
		Binary: requireEnvoy(t), XDSAddress: xdsAddr, TLS: files, Stderr: log, LogLevel: "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("envoy %s log:\n%s", p.NodeID(), log)
		}
	})
	if live {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.WaitLive(ctx); err != nil {
			t.Fatalf("envoy not live: %v\n%s", err, log)
		}
	}
	return p
}

// mtlsGateway is the wildcard test's policy (ext_authz, rate limiting and
// the gRPC access log) served by a Tollgate with mutual TLS on a wildcard
// address, which TLS allows without --insecure-grpc.
func mtlsGateway(t *testing.T, p *grpcPKI) (tg *tollgate, base, xdsAddr, dir, key string) {
	t.Helper()
	addr := freeAddr(t)
	_, envoyPort, _ := net.SplitHostPort(addr)
	dir = policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", envoyPort),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    wildcardPolicy,
	})
	key = writeKey(t, dir, "alice")
	_, grpcPort, _ := net.SplitHostPort(freeAddr(t))
	tg = startTollgateAt(t, dir, "0.0.0.0:"+grpcPort, p.serveFlags()...)
	return tg, "http://" + addr, "127.0.0.1:" + grpcPort, dir, key
}

// TestEnvoyOverMutualTLSGetsConfigAndOthersGetNothing: a real Envoy with
// a client certificate from the trusted CA gets its configuration over
// mutual TLS and calls ext_authz, rate limiting and the access-log service
// over it too (their clusters use the bootstrap's secrets). Envoys with a
// certificate from another CA, or none, are refused at the handshake:
// they get no listener, and Tollgate never sees them as proxies.
func TestEnvoyOverMutualTLSGetsConfigAndOthersGetNothing(t *testing.T) {
	requireEnvoy(t)
	p := newGRPCPKI(t)
	tg, base, xdsAddr, _, key := mtlsGateway(t, p)
	good, _ := p.envoyFiles(t, p.ca, "good")
	startEnvoyTLS(t, xdsAddr, good, true)
	waitService(t, base+"/health", nil, "api")
	if got := statuses(t, base+"/limited", 1, nil); got != "401" {
		t.Errorf("without a key: %s, want 401 from ext_authz over mTLS", got)
	}
	if got := statuses(t, base+"/limited", 3, map[string]string{"X-API-Key": key}); got != "200,200,429" {
		t.Errorf("with a key: %s, want 200,200,429 from the rate-limit service over mTLS", got)
	}
	eventually(t, 15*time.Second, func() error {
		for _, e := range accessEntries(tg.log.String()) {
			if e["route"] == "limited" && e["status"] == float64(429) {
				return nil
			}
		}
		return fmt.Errorf("no access-log entry over mTLS in Tollgate's output yet")
	})

	stranger, err := testcerts.NewCA("stranger")
	if err != nil {
		t.Fatal(err)
	}
	untrusted, _ := p.envoyFiles(t, stranger, "untrusted")
	for name, files := range map[string]*envoy.TLSFiles{"untrusted certificate": untrusted, "plaintext": nil} {
		e := startEnvoyTLS(t, xdsAddr, files, false)
		// Two connection attempts: the first has failed, so Envoy has
		// had its chance to receive a configuration and did not.
		waitStat(t, e, "cluster.tollgate_xds.upstream_cx_total", func(v int64) bool { return v >= 2 })
		if got := stat(t, e, "listener_manager.total_listeners_active"); got != "0" {
			t.Errorf("%s: Envoy has %s active listeners, want 0", name, got)
		}
		// Not control_plane.connected_state: Envoy sets it to 1 as each
		// attempt's stream starts, before the handshake fails, so it
		// flips between 0 and 1 while Envoy retries. No update ever
		// succeeding is what shows that nothing got through.
		for _, s := range []string{"listener_manager.lds.update_success", "cluster_manager.cds.update_success"} {
			if got := stat(t, e, s); got != "0" {
				t.Errorf("%s: Envoy's %s = %s, want 0", name, s, got)
			}
		}
		if _, body, _ := httpGet(tg.adminURL("/debug/proxies"), nil); strings.Contains(string(body), e.NodeID()) {
			t.Errorf("%s: Tollgate lists Envoy %s as a proxy: %s", name, e.NodeID(), body)
		}
	}
	// Refusals are counted and logged, so that an Envoy getting nothing
	// shows on Tollgate's side.
	if got, _ := strconv.Atoi(tg.metric(t, "tollgate_grpc_tls_handshake_failures_total")); got < 2 {
		t.Errorf("tollgate_grpc_tls_handshake_failures_total = %d, want at least one per refused Envoy", got)
	}
	if !strings.Contains(tg.log.String(), "gRPC TLS handshake refused") {
		t.Error("Tollgate logged no refused handshake")
	}
}

// TestGRPCCertificatesRotateWhileEnvoyStaysConnected replaces Tollgate's
// server certificate and client CA bundle on disk, as cert-manager would,
// without a restart: new handshakes get the new certificate, an Envoy
// whose client CA was just added connects, and the Envoy connected before
// keeps its ADS stream (no reconnection) and keeps receiving updates.
func TestGRPCCertificatesRotateWhileEnvoyStaysConnected(t *testing.T) {
	requireEnvoy(t)
	p := newGRPCPKI(t)
	_, base, xdsAddr, dir, _ := mtlsGateway(t, p)
	files, client := p.envoyFiles(t, p.ca, "first")
	first := startEnvoyTLS(t, xdsAddr, files, true)
	waitService(t, base+"/health", nil, "api")
	connections := stat(t, first, "cluster.tollgate_xds.upstream_cx_total")

	before := p.serverSerial
	p.issueServer(t)
	newCA, err := testcerts.NewCA("second client CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(p.clientCA, slices.Concat(p.ca.CertPEM, newCA.CertPEM)); err != nil {
		t.Fatal(err)
	}
	if got := serverSerial(t, xdsAddr, p.ca, client); got != p.serverSerial {
		t.Errorf("a handshake after rotation got certificate %s, want the new %s (before: %s)", got, p.serverSerial, before)
	}
	second, _ := p.envoyFiles(t, newCA, "second")
	startEnvoyTLS(t, xdsAddr, second, true)

	// The first Envoy still gets updates, on the connection it had.
	writeFile(t, filepath.Join(dir, "40-rotated.yaml"),
		"routes:\n  - { name: rotated, match: { path: /rotated }, to: api, auth: { public: true } }\n")
	waitService(t, base+"/rotated", nil, "api")
	if got := stat(t, first, "cluster.tollgate_xds.upstream_cx_total"); got != connections {
		t.Errorf("the first Envoy opened %s connections to Tollgate, want still %s: rotation broke its stream", got, connections)
	}
	if got := stat(t, first, "control_plane.connected_state"); got != "1" {
		t.Errorf("the first Envoy's control_plane.connected_state = %s, want 1", got)
	}
}

// serverSerial completes a handshake with Tollgate's gRPC port as an Envoy
// would and returns the serial number of the certificate it presented.
func serverSerial(t *testing.T, addr string, ca *testcerts.CA, client *testcerts.Leaf) string {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
		RootCAs: ca.Pool(), Certificates: []tls.Certificate{client.TLS}, NextProtos: []string{"h2"},
	}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestAdminPortServesHTTPS runs `tollgate serve --admin-tls-cert/-key`:
// the admin endpoints answer over HTTPS with that certificate, and not in
// plaintext.
func TestAdminPortServesHTTPS(t *testing.T) {
	p := newGRPCPKI(t)
	dir := policyDir(t, map[string]string{"gateway.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", strings.Split(freeAddr(t), ":")[1]) +
		servicesYAML(t, "api") + "routes:\n  - { name: api, to: api }\n"})
	tg := &tollgate{grpcAddr: freeAddr(t), adminAddr: freeAddr(t), log: &testenv.Buffer{}, done: make(chan struct{})}
	tg.cmd = exec.Command(tollgateBin, "serve", "--policy", dir, "--grpc-addr", tg.grpcAddr, "--admin-addr", tg.adminAddr,
		"--admin-tls-cert", p.serverCert, "--admin-tls-key", p.serverKey, "--log-format", "text", "--state-dir", t.TempDir())
	tg.cmd.Stdout, tg.cmd.Stderr = tg.log, tg.log
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = tg.cmd.Wait(); close(tg.done) }()
	t.Cleanup(tg.stop)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool()}}}
	eventually(t, 10*time.Second, func() error {
		resp, err := client.Get("https://" + tg.adminAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.PeerCertificates[0].SerialNumber.String() != p.serverSerial {
			return fmt.Errorf("https /readyz: %d, want 200 with the configured certificate", resp.StatusCode)
		}
		return nil
	})
	if status, _, err := httpGet(tg.adminURL("/readyz"), nil); err == nil && status == 200 {
		t.Error("the admin port answered plain HTTP with --admin-tls-cert")
	}
}

// TestEnvoyRefusesTollgateCertificateForAnotherName: Envoy checks that
// Tollgate's certificate names the host it dials, not only that it chains
// to the CA (which also signs Envoys' client certificates): a certificate
// for "tollgate" served on 127.0.0.1 fails SAN verification, and Envoy
// gets no configuration from it.
func TestEnvoyRefusesTollgateCertificateForAnotherName(t *testing.T) {
	requireEnvoy(t)
	p := newGRPCPKI(t)
	leaf, err := p.ca.Issue(testcerts.Options{CommonName: "tollgate", DNSNames: []string{"tollgate"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	_, _, xdsAddr, _, _ := mtlsGateway(t, p)
	files, _ := p.envoyFiles(t, p.ca, "envoy")
	e := startEnvoyTLS(t, xdsAddr, files, false)
	waitStat(t, e, "cluster.tollgate_xds.ssl.fail_verify_san", func(v int64) bool { return v >= 1 })
	if got := stat(t, e, "listener_manager.total_listeners_active"); got != "0" {
		t.Errorf("Envoy has %s active listeners from a Tollgate it should not trust, want 0", got)
	}
}

// TestEnvoyFromTollgateBootstrapConnectsOverMutualTLS is a fleet member
// set up as a deployment does it: `tollgate bootstrap` writes the
// bootstrap with the Envoy's own node id and client certificate files,
// and a real Envoy running that file gets its configuration from a
// Tollgate serving mutual TLS, under that node id.
func TestEnvoyFromTollgateBootstrapConnectsOverMutualTLS(t *testing.T) {
	requireEnvoy(t)
	p := newGRPCPKI(t)
	tg, base, xdsAddr, _, _ := mtlsGateway(t, p)
	files, _ := p.envoyFiles(t, p.ca, "pod")
	bootstrap := filepath.Join(t.TempDir(), "bootstrap.yaml")
	out, err := exec.Command(tollgateBin, "bootstrap", "--node-id", "edge-pod-1", "--xds-addr", xdsAddr, "--admin-addr", "127.0.0.1:0",
		"--tls-cert", files.CertFile, "--tls-key", files.KeyFile, "--tls-ca", files.CAFile, "--output", bootstrap).CombinedOutput()
	if err != nil {
		t.Fatalf("tollgate bootstrap: %v\n%s", err, out)
	}
	log := &testenv.Buffer{}
	e, err := envoy.Start(context.Background(), envoy.Config{Binary: requireEnvoy(t), BootstrapFile: bootstrap, NodeID: "edge-pod-1", Stderr: log, LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.Stop()
		if t.Failed() {
			t.Logf("envoy log:\n%s", log)
		}
	})
	waitService(t, base+"/health", nil, "api")
	if _, body, _ := httpGet(tg.adminURL("/debug/proxies"), nil); !strings.Contains(string(body), "edge-pod-1") {
		t.Errorf("Tollgate's /debug/proxies does not list node edge-pod-1: %s", body)
	}
}
