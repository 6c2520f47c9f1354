package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/demoservice"
	"github.com/tollgate/tollgate/internal/testcerts"
)

// tlsGateway is a Tollgate and an Envoy serving a policy whose certificate
// files were generated for the test.
type tlsGateway struct {
	dir      string
	addr     string // 127.0.0.1:PORT of the TLS listener
	httpAddr string // 127.0.0.1:HTTP_PORT, for redirect_http_from
	tollgate *tollgate
	envoy    *envoy.Process
}

// startTLSGateway writes files (with {{PORT}} and {{HTTP_PORT}} replaced)
// and pems (path → content, under the policy directory), and starts
// Tollgate and Envoy (over incremental xDS when delta is set). Callers
// wait for their own first answer, since reaching the listener needs their
// TLS settings.
func startTLSGateway(t *testing.T, files map[string]string, pems map[string][]byte, delta bool) *tlsGateway {
	t.Helper()
	requireEnvoy(t)
	g := &tlsGateway{addr: freeAddr(t), httpAddr: freeAddr(t)}
	for name, content := range files {
		content = strings.ReplaceAll(content, "{{PORT}}", portOf(g.addr))
		files[name] = strings.ReplaceAll(content, "{{HTTP_PORT}}", portOf(g.httpAddr))
	}
	g.dir = policyDir(t, files)
	for name, data := range pems {
		mustWrite(t, filepath.Join(g.dir, name), data)
	}
	g.tollgate = startTollgate(t, g.dir, "")
	g.envoy = startEnvoy(t, g.tollgate.grpcAddr, "default", delta)
	return g
}

func portOf(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := testcerts.WriteFile(path, data); err != nil {
		t.Fatal(err)
	}
}

func mustCA(t *testing.T, name string) *testcerts.CA {
	t.Helper()
	ca, err := testcerts.NewCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *testcerts.CA, o testcerts.Options) *testcerts.Leaf {
	t.Helper()
	leaf, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// tlsClient is an HTTP client trusting roots, presenting cert if given, and
// asking for serverName.
func tlsClient(roots *x509.CertPool, serverName string, cert *tls.Certificate) *http.Client {
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: cfg, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// getReply sends a GET and decodes the demo service's reply.
func getReply(c *http.Client, url string, headers map[string]string) (int, reply, *http.Response, error) {
	req, err := newRequest("GET", url, headers, "")
	if err != nil {
		return 0, reply{}, nil, err
	}
	resp, body, err := roundTrip(c, req)
	if resp == nil {
		return 0, reply{}, nil, err
	}
	var r reply
	if resp.StatusCode == 200 {
		_ = json.Unmarshal(body, &r)
	}
	return resp.StatusCode, r, resp, nil
}

// waitTLS waits until a GET through c answers 200.
func waitTLS(t *testing.T, c *http.Client, url string) {
	t.Helper()
	eventually(t, 15*time.Second, func() error {
		status, _, _, err := getReply(c, url, nil)
		if err != nil || status != 200 {
			return fmt.Errorf("GET %s: %d %v", url, status, err)
		}
		return nil
	})
}

// servedSerial handshakes with the listener asking for serverName and
// returns the serial of the certificate it serves.
func servedSerial(addr, serverName string, roots *x509.CertPool) (*big.Int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: serverName})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

const tlsListenerPolicy = `
listeners:
  - name: secure
    address: 127.0.0.1
    port: {{PORT}}
    tls:
      certificates:
        - { cert: certs/a.pem, key: certs/a-key.pem }
        - { cert: certs/b.pem, key: certs/b-key.pem }
      redirect_http_from: {{HTTP_PORT}}
services:
  web: { endpoints: [%s] }
routes:
  - { name: web, to: web }
`

func TestTLSTerminationSNIAndRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "tollgate-test-ca")
	a := mustIssue(t, ca, testcerts.Options{CommonName: "a.example.com", DNSNames: []string{"a.example.com"}})
	b := mustIssue(t, ca, testcerts.Options{CommonName: "b.example.com", DNSNames: []string{"b.example.com"}})
	g := startTLSGateway(t, map[string]string{"gateway.yaml": fmt.Sprintf(tlsListenerPolicy, upstream(t, "web", 1, nil)[0])},
		map[string][]byte{"certs/a.pem": a.CertPEM, "certs/a-key.pem": a.KeyPEM, "certs/b.pem": b.CertPEM, "certs/b-key.pem": b.KeyPEM}, false)
	clientA := tlsClient(ca.Pool(), "a.example.com", nil)
	url := "https://" + g.addr + "/hello"
	waitTLS(t, clientA, url)

	// A client trusting the test CA completes the handshake, over HTTP/2
	// when it offers h2 (ALPN), and SNI picks each name's certificate.
	status, r, resp, err := getReply(clientA, url, nil)
	if err != nil || status != 200 || r.Service != "web" || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET over TLS: %d %v %+v proto %v", status, err, r, resp)
	}
	for _, tc := range []struct {
		name string
		want *testcerts.Leaf
	}{{"a.example.com", a}, {"b.example.com", b}} {
		serial, err := servedSerial(g.addr, tc.name, ca.Pool())
		if err != nil || serial.Cmp(tc.want.Cert.SerialNumber) != 0 {
			t.Errorf("SNI %s: served serial %v (err %v), want %v", tc.name, serial, err, tc.want.Cert.SerialNumber)
		}
	}
	// TLS 1.2 is the minimum; an older client is refused.
	old := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	if conn, err := tls.Dial("tcp", g.addr, old); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	// Plain HTTP on redirect_http_from is sent to https.
	plain := tlsClient(nil, "", nil)
	presp, err := plain.Get("http://" + g.httpAddr + "/orders?x=1")
	if err != nil {
		t.Fatal(err)
	}
	presp.Body.Close()
	if loc := presp.Header.Get("Location"); presp.StatusCode != 301 || !strings.HasPrefix(loc, "https://") || !strings.HasSuffix(loc, ":"+portOf(g.addr)+"/orders?x=1") {
		t.Errorf("plain HTTP: %d Location %q, want 301 to https on port %s", presp.StatusCode, loc, portOf(g.addr))
	}

	rotateCertificate(t, g, ca, a)
	rejectBadCertificate(t, g, ca)
	checkNoPrivateKeyLeaks(t, g)
}

// rotateCertificate replaces a.example.com's certificate files: new
// handshakes get the new certificate, while a connection opened before
// keeps working and Envoy neither restarts nor rebuilds the listener.
func rotateCertificate(t *testing.T, g *tlsGateway, ca *testcerts.CA, a *testcerts.Leaf) {
	t.Helper()
	pid := g.envoy.Pid()
	modified := stat(t, g.envoy, "listener_manager.listener_modified")
	live, err := tls.Dial("tcp", g.addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveReader := bufio.NewReader(live)
	if status := rawGet(t, live, liveReader, "a.example.com"); status != 200 {
		t.Fatalf("live connection: status %d", status)
	}

	a2 := mustIssue(t, ca, testcerts.Options{CommonName: "a.example.com", DNSNames: []string{"a.example.com"}})
	if err := a2.Write(filepath.Join(g.dir, "certs/a.pem"), filepath.Join(g.dir, "certs/a-key.pem")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		serial, err := servedSerial(g.addr, "a.example.com", ca.Pool())
		if err != nil || serial.Cmp(a2.Cert.SerialNumber) != 0 {
			return fmt.Errorf("still serving serial %v (err %v), want the new %v", serial, err, a2.Cert.SerialNumber)
		}
		return nil
	})
	if status := rawGet(t, live, liveReader, "a.example.com"); status != 200 {
		t.Errorf("the connection opened before the rotation broke: status %d", status)
	}
	if got := live.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(a.Cert.SerialNumber) != 0 {
		t.Errorf("the live connection's certificate changed under it")
	}
	if g.envoy.Pid() != pid {
		t.Error("Envoy restarted")
	}
	if now := stat(t, g.envoy, "listener_manager.listener_modified"); now != modified {
		t.Errorf("the listener was rebuilt (listener_modified %s → %s); only the secret should change", modified, now)
	}
}

// rejectBadCertificate writes a key that does not match the certificate:
// Tollgate rejects the change and Envoy keeps serving the good pair.
func rejectBadCertificate(t *testing.T, g *tlsGateway, ca *testcerts.CA) {
	t.Helper()
	before, _ := servedSerial(g.addr, "a.example.com", ca.Pool())
	other := mustIssue(t, ca, testcerts.Options{CommonName: "other"})
	mustWrite(t, filepath.Join(g.dir, "certs/a-key.pem"), other.KeyPEM)
	eventually(t, 10*time.Second, func() error {
		if v := g.tollgate.metric(t, `tollgate_policy_reloads_total{result="rejected"}`); v == "" || v == "0" {
			return fmt.Errorf("the mismatched key was not rejected yet (rejected=%q)", v)
		}
		return nil
	})
	if !strings.Contains(g.tollgate.log.String(), "does not go with certificate certs/a.pem") {
		t.Errorf("the rejection names no position and cause:\n%s", g.tollgate.log)
	}
	after, err := servedSerial(g.addr, "a.example.com", ca.Pool())
	if err != nil || after.Cmp(before) != 0 {
		t.Errorf("after a bad key: serial %v (err %v), want the good %v still", after, err, before)
	}
}

// checkNoPrivateKeyLeaks looks for key material in Tollgate's log and
// debug output.
func checkNoPrivateKeyLeaks(t *testing.T, g *tlsGateway) {
	t.Helper()
	_, debug, err := httpGet(g.tollgate.adminURL("/debug/config"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"log": g.tollgate.log.String(), "/debug/config": string(debug)} {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("private key material in %s", where)
		}
	}
}

// rawGet sends one HTTP/1.1 request on an open connection.
func rawGet(t *testing.T, conn net.Conn, r *bufio.Reader, host string) int {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /live HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestListenerMTLSForwardsVerifiedIdentity(t *testing.T) {
	t.Parallel()
	serverCA, clientCA, otherCA := mustCA(t, "server-ca"), mustCA(t, "client-ca"), mustCA(t, "other-ca")
	server := mustIssue(t, serverCA, testcerts.Options{CommonName: "api.internal", DNSNames: []string{"api.internal"}})
	billing := mustIssue(t, clientCA, testcerts.Options{CommonName: "billing", URIs: []string{"spiffe://tollgate.test/billing"}, Client: true})
	stranger := mustIssue(t, otherCA, testcerts.Options{CommonName: "billing", URIs: []string{"spiffe://tollgate.test/billing"}, Client: true})
	g := startTLSGateway(t, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners:
  - name: internal
    address: 127.0.0.1
    port: {{PORT}}
    tls:
      certificates: [{ cert: certs/server.pem, key: certs/server-key.pem }]
      client_ca: certs/clients.pem
services:
  api: { endpoints: [%s] }
routes:
  - { name: api, to: api }
`, upstream(t, "api", 1, nil)[0])}, map[string][]byte{
		"certs/server.pem": server.CertPEM, "certs/server-key.pem": server.KeyPEM, "certs/clients.pem": clientCA.CertPEM,
	}, false)
	url := "https://" + g.addr + "/whoami"
	valid := tlsClient(serverCA.Pool(), "api.internal", &billing.TLS)
	waitTLS(t, valid, url)

	for name, c := range map[string]*http.Client{
		"no client certificate":         tlsClient(serverCA.Pool(), "api.internal", nil),
		"a certificate from another CA": tlsClient(serverCA.Pool(), "api.internal", &stranger.TLS),
	} {
		if status, _, _, err := getReply(c, url, nil); err == nil {
			t.Errorf("%s: got status %d, want the handshake refused", name, status)
		}
	}

	forged := map[string]string{
		"x-tollgate-client-cert-uri":     "spiffe://tollgate.test/admin",
		"x-tollgate-client-cert-subject": "CN=admin",
		"x-forwarded-client-cert":        "URI=spiffe://tollgate.test/admin",
	}
	status, r, _, err := getReply(valid, url, forged)
	if err != nil || status != 200 {
		t.Fatalf("valid client: %d %v", status, err)
	}
	h := r.Headers
	if h["x-tollgate-client-cert-uri"] != "spiffe://tollgate.test/billing" || !strings.Contains(h["x-tollgate-client-cert-subject"], "CN=billing") {
		t.Errorf("the service did not get the verified identity: %v", h)
	}
	if xfcc := h["x-forwarded-client-cert"]; !strings.Contains(xfcc, "URI=spiffe://tollgate.test/billing") || strings.Contains(xfcc, "admin") {
		t.Errorf("x-forwarded-client-cert = %q, want only the verified identity", xfcc)
	}
	for name, v := range h {
		if strings.Contains(v, "admin") {
			t.Errorf("the client's forged %s reached the service: %q", name, v)
		}
	}
}

// peerRecorder puts what the upstream saw of Envoy's connection into the
// request, where the demo service echoes it back.
func peerRecorder(h http.Handler, closeEach bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			r.Header.Set("x-peer-cn", r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		r.Header.Set("x-peer-proto", r.Proto)
		if closeEach && r.ProtoMajor == 1 {
			// A new connection for every request, so a rotated client
			// certificate shows on the next one.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// tlsUpstream serves the demo service over TLS with cert; with clients set
// it requires a client certificate signed by them.
func tlsUpstream(t *testing.T, name string, cert *testcerts.Leaf, clients *x509.CertPool) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, NextProtos: []string{"h2", "http/1.1"}}
	if clients != nil {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, clients
	}
	srv := &http.Server{Handler: peerRecorder(demoservice.New(name, lis.Addr().String()), true), TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.ServeTLS(lis, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return lis.Addr().String()
}

func TestUpstreamTLSAndMutualTLS(t *testing.T) {
	t.Parallel()
	svcCA, rogueCA, gwCA := mustCA(t, "services-ca"), mustCA(t, "rogue-ca"), mustCA(t, "gateway-client-ca")
	svcCert := mustIssue(t, svcCA, testcerts.Options{CommonName: "orders.internal", DNSNames: []string{"orders.internal"}})
	rogueCert := mustIssue(t, rogueCA, testcerts.Options{CommonName: "orders.internal", DNSNames: []string{"orders.internal"}})
	gw := mustIssue(t, gwCA, testcerts.Options{CommonName: "tollgate-gateway", Client: true})
	secure := tlsUpstream(t, "orders", svcCert, gwCA.Pool())
	rogue := tlsUpstream(t, "rogue", rogueCert, nil)
	files := map[string]string{"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  orders:
    endpoints: [%[1]s]
    tls: { ca: certs/services-ca.pem, sni: orders.internal, client_cert: certs/gateway.pem, client_key: certs/gateway-key.pem }
  orders-h2:
    endpoints: [%[1]s]
    protocol: http2
    tls: { ca: certs/services-ca.pem, sni: orders.internal, client_cert: certs/gateway.pem, client_key: certs/gateway-key.pem }
  orders-no-client-cert:
    endpoints: [%[1]s]
    tls: { ca: certs/services-ca.pem, sni: orders.internal }
  rogue:
    endpoints: [%[2]s]
    tls: { ca: certs/services-ca.pem, sni: orders.internal }
routes:
  - { name: h2, match: { path_prefix: /h2 }, to: orders-h2 }
  - { name: anonymous, match: { path_prefix: /anonymous }, to: orders-no-client-cert }
  - { name: rogue, match: { path_prefix: /rogue }, to: rogue }
  - { name: orders, to: orders }
`, secure, rogue)}
	pems := map[string][]byte{"certs/services-ca.pem": svcCA.CertPEM, "certs/gateway.pem": gw.CertPEM, "certs/gateway-key.pem": gw.KeyPEM}
	// Over delta xDS: secrets arrive and rotate the same way.
	g := startTLSGateway(t, files, pems, true)
	base := "http://" + g.addr
	waitService(t, base+"/orders", nil, "orders")

	// The service requires a client certificate and accepts Envoy's; over
	// HTTP/2 too.
	status, r := call("GET", base+"/orders", nil)
	if status != 200 || r.Headers["x-peer-cn"] != "tollgate-gateway" || r.Headers["x-peer-proto"] != "HTTP/1.1" {
		t.Errorf("mTLS upstream: %d %v", status, r.Headers)
	}
	status, r = call("GET", base+"/h2", nil)
	if status != 200 || r.Headers["x-peer-cn"] != "tollgate-gateway" || r.Headers["x-peer-proto"] != "HTTP/2.0" {
		t.Errorf("mTLS upstream over HTTP/2: %d %v", status, r.Headers)
	}
	// Without a client certificate the service refuses Envoy; a service
	// whose certificate the configured CA did not sign is refused by Envoy.
	for _, path := range []string{"/anonymous", "/rogue"} {
		if status, _ := call("GET", base+path, nil); status != 503 {
			t.Errorf("GET %s: status %d, want 503", path, status)
		}
	}
	if v := stat(t, g.envoy, "cluster.rogue.ssl.fail_verify_error"); v == "" || v == "0" {
		t.Errorf("cluster.rogue.ssl.fail_verify_error = %q, want > 0", v)
	}

	// Rotating Envoy's client certificate takes effect without a restart.
	pid := g.envoy.Pid()
	gw2 := mustIssue(t, gwCA, testcerts.Options{CommonName: "tollgate-gateway-2", Client: true})
	if err := gw2.Write(filepath.Join(g.dir, "certs/gateway.pem"), filepath.Join(g.dir, "certs/gateway-key.pem")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if status, r := call("GET", base+"/orders", nil); status != 200 || r.Headers["x-peer-cn"] != "tollgate-gateway-2" {
			return fmt.Errorf("upstream sees %d %q, want the rotated certificate", status, r.Headers["x-peer-cn"])
		}
		return nil
	})
	if g.envoy.Pid() != pid {
		t.Error("Envoy restarted")
	}
}
