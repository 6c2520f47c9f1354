package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testcerts"
)

// clientAddressPolicy has one listener per client_address mode, one route
// counted per client_ip and one that needs an API key (whose refusals
// Tollgate logs with the client's address).
const clientAddressPolicy = `listeners:
  - { name: direct, address: 127.0.0.1, port: {{PORT}} }
  - { name: hops, address: 127.0.0.1, port: {{HOPS}}, client_address: { trusted_hops: 1 } }
  - { name: cidrs, address: 127.0.0.1, port: {{CIDRS}}, client_address: { trusted_cidrs: [127.0.0.1/32] } }
  - { name: pp, address: 127.0.0.1, port: {{PP}}, client_address: { proxy_protocol: true } }
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
routes:
  - { name: api, match: { path_prefix: /x }, to: api, auth: { public: true }, rate_limits: [per-ip] }
  - { name: private, match: { path_prefix: /private }, to: api, auth: { accept: [api_key] } }
  - { name: sticky, match: { path_prefix: /sticky }, to: sticky, auth: { public: true } }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], fixed_window: { limit: 3, window: 1h } }
`

// clientAddressGateway is the gateway of clientAddressPolicy and the
// loopback ports of its listeners.
type clientAddressGateway struct {
	*gateway
	hops, cidrs, pp string // host:port
	accessLog       func() string
}

func startClientAddressGateway(t *testing.T) *clientAddressGateway {
	t.Helper()
	c := &clientAddressGateway{hops: freeAddr(t), cidrs: freeAddr(t), pp: freeAddr(t)}
	logPath := filepath.Join(t.TempDir(), "access.log")
	policy := strings.NewReplacer("{{HOPS}}", port(c.hops), "{{CIDRS}}", port(c.cidrs), "{{PP}}", port(c.pp)).Replace(clientAddressPolicy)
	c.gateway = startGateway(t, map[string]string{
		"gateway.yaml": policy + servicesYAML(t, "api") + stickyYAML(t),
		"log.yaml":     "access_log: { path: " + logPath + " }\n",
	}, false, "/x/probe", "api", "--file-flush-interval-msec", "200") // the access log, every 200ms
	c.accessLog = readFile(t, logPath)
	waitService(t, "http://"+c.cidrs+"/x/probe", nil, "api")
	return c
}

// stickyYAML declares a service of two instances that hashes requests on
// the client's address.
func stickyYAML(t *testing.T) string {
	addrs := upstream(t, "sticky", 2, nil)
	return fmt.Sprintf("  sticky: { endpoints: [%s], load_balancing: ring_hash, hash_on: { client_ip: true } }\n", strings.Join(addrs, ", "))
}

// loadBalancer is a reverse proxy on loopback in front of target that
// appends its peer to X-Forwarded-For, as cloud load balancers do. Its
// own connections to the gateway come from 127.0.0.1.
func loadBalancer(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	lb := httptest.NewServer(httputil.NewSingleHostReverseProxy(u))
	t.Cleanup(lb.Close)
	return lb.URL
}

// clientFrom is an HTTP client whose connections come from ip, a 127/8
// address: Linux routes all of 127/8 to loopback, so each stands for a
// distinct client.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// getFrom sends GET url with headers and returns the status and, on 200, the
// demo service's reply.
func getFrom(t *testing.T, c *http.Client, url string, headers map[string]string) (int, reply) {
	t.Helper()
	req, err := newRequest("GET", url, headers, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return replyOf(t, resp)
}

// seesClient checks that the service was told the client is want, in
// every address header, and that the access log has an entry for it.
func (c *clientAddressGateway) seesClient(t *testing.T, status int, r reply, want string) {
	t.Helper()
	if status != 200 {
		t.Fatalf("status %d, want 200", status)
	}
	for _, h := range []string{"x-real-ip", "x-forwarded-for", "x-envoy-external-address"} {
		if got := r.Headers[h]; got != want {
			t.Errorf("%s = %q, want the client %s alone", h, got, want)
		}
	}
	waitEntryWith(t, c.accessLog, "client_ip", want)
}

// Behind a load balancer that appends to X-Forwarded-For, a listener
// trusting one hop sees the original client: per-IP limits count each
// client apart, the access log, the address headers and Tollgate's
// authorization log name it, and an X-Forwarded-For the client writes
// itself changes none of it.
func TestClientAddressBehindTrustedHops(t *testing.T) {
	g := startClientAddressGateway(t)
	lb := loadBalancer(t, g.hops)

	status, r := getFrom(t, clientFrom(t, "127.0.0.11"), lb+"/x/a", nil)
	g.seesClient(t, status, r, "127.0.0.11")
	status, r = getFrom(t, clientFrom(t, "127.0.0.12"), lb+"/x/b", map[string]string{"x-forwarded-for": "203.0.113.66"})
	g.seesClient(t, status, r, "127.0.0.12")

	// 127.0.0.13 spends its 3 requests; a forged X-Forwarded-For does not
	// buy it more, and 127.0.0.14, behind the same balancer, is not
	// counted with it.
	c13 := clientFrom(t, "127.0.0.13")
	for i := range 3 {
		if status, _ := getFrom(t, c13, lb+"/x/c", nil); status != 200 {
			t.Fatalf("request %d of 3: status %d", i+1, status)
		}
	}
	for _, forged := range []string{"", "198.51.100.1", "127.0.0.99"} {
		if status, _ := getFrom(t, c13, lb+"/x/c", map[string]string{"x-forwarded-for": forged}); status != 429 {
			t.Errorf("4th request with X-Forwarded-For %q: status %d, want 429", forged, status)
		}
	}
	if status, _ := getFrom(t, clientFrom(t, "127.0.0.14"), lb+"/x/d", nil); status != 200 {
		t.Errorf("another client behind the same balancer: status %d, want 200 (counted apart)", status)
	}

	// ext_authz sees the balancer as its peer; Tollgate logs the client.
	if status, _ := getFrom(t, clientFrom(t, "127.0.0.15"), lb+"/private", nil); status != 401 {
		t.Fatalf("/private without a key: status %d, want 401", status)
	}
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(g.tollgate.log.String(), "client_ip=127.0.0.15") {
			return fmt.Errorf("no authz log line with client_ip=127.0.0.15")
		}
		return nil
	})
}

// ring_hash on client_ip hashes the resolved address: clients behind one
// balancer stick each to an instance, and spread over both (with one
// address, the balancer's, they would all land on one: 16 clients all on
// the same of two instances by chance is a 1 in 32,768 event).
func TestClientAddressHashesRingOnTheClient(t *testing.T) {
	g := startClientAddressGateway(t)
	lb := loadBalancer(t, g.hops)
	seen := map[string]bool{}
	for i := range 16 {
		c := clientFrom(t, fmt.Sprintf("127.0.0.%d", 101+i))
		_, first := getFrom(t, c, lb+"/sticky", nil)
		status, again := getFrom(t, c, lb+"/sticky", map[string]string{"x-forwarded-for": "198.51.100.1"})
		if status != 200 || first.Instance == "" || again.Instance != first.Instance {
			t.Fatalf("client %d: instances %q then %q (status %d), want the same one", i, first.Instance, again.Instance, status)
		}
		seen[first.Instance] = true
	}
	if len(seen) != 2 {
		t.Errorf("16 clients behind one balancer reached %d instance(s), want both: the hash used the balancer's address", len(seen))
	}
}

// With trusted CIDRs, X-Forwarded-For counts only when the peer is a
// trusted proxy; the client is its right-most untrusted address. A client
// reaching the listener directly is its own peer, whatever it writes.
func TestClientAddressBehindTrustedCIDRs(t *testing.T) {
	g := startClientAddressGateway(t)
	lb := loadBalancer(t, g.cidrs)

	status, r := getFrom(t, clientFrom(t, "127.0.0.21"), lb+"/x/a", nil)
	g.seesClient(t, status, r, "127.0.0.21")
	// The client's claim that it is the balancer is skipped like the
	// balancer; its other claim is left of its real address.
	status, r = getFrom(t, clientFrom(t, "127.0.0.22"), lb+"/x/b", map[string]string{"x-forwarded-for": "198.51.100.1, 127.0.0.1"})
	g.seesClient(t, status, r, "127.0.0.22")
	status, r = getFrom(t, clientFrom(t, "127.0.0.23"), "http://"+g.cidrs+"/x/c", map[string]string{"x-forwarded-for": "203.0.113.9"})
	g.seesClient(t, status, r, "127.0.0.23")

	// A direct client is treated as on any listener: its x-request-id
	// and x-forwarded-proto are replaced. What a trusted proxy forwards is
	// kept (Envoy's XFF extension runs only without use_remote_address).
	direct := map[string]string{"x-request-id": "forged-id", "x-forwarded-proto": "https"}
	status, r = getFrom(t, clientFrom(t, "127.0.0.24"), "http://"+g.cidrs+"/x/d", direct)
	if status != 200 || r.Headers["x-request-id"] == "forged-id" || r.Headers["x-forwarded-proto"] != "http" {
		t.Errorf("direct client: status %d, x-request-id %q, x-forwarded-proto %q; want both the gateway's",
			status, r.Headers["x-request-id"], r.Headers["x-forwarded-proto"])
	}
	status, r = getFrom(t, clientFrom(t, "127.0.0.25"), lb+"/x/e", map[string]string{"x-request-id": "from-proxy"})
	if status != 200 || r.Headers["x-request-id"] != "from-proxy" {
		t.Errorf("through the trusted proxy: status %d, x-request-id %q, want the proxy's from-proxy", status, r.Headers["x-request-id"])
	}
}

// Without client_address the client is the peer, and no X-Forwarded-For
// changes it (the default).
func TestClientAddressDefaultIsThePeer(t *testing.T) {
	g := startClientAddressGateway(t)
	status, r := getFrom(t, clientFrom(t, "127.0.0.31"), g.base+"/x/a", map[string]string{"x-forwarded-for": "203.0.113.5"})
	g.seesClient(t, status, r, "127.0.0.31")
	lb := loadBalancer(t, strings.TrimPrefix(g.base, "http://"))
	status, r = getFrom(t, clientFrom(t, "127.0.0.32"), lb+"/x/b", nil)
	g.seesClient(t, status, r, "127.0.0.1") // the balancer: nothing is trusted
}

// A TCP load balancer speaking the PROXY protocol (v1 text or v2 binary)
// names the client; the X-Forwarded-For behind it counts for nothing, and
// a connection without the PROXY header is refused.
func TestClientAddressFromProxyProtocol(t *testing.T) {
	g := startClientAddressGateway(t)
	for _, tc := range []struct {
		name, client string
		header       func(client string) []byte
	}{
		{"v1", "198.51.100.7", func(ip string) []byte {
			return fmt.Appendf(nil, "PROXY TCP4 %s 127.0.0.1 40000 %s\r\n", ip, port(g.pp))
		}},
		{"v2", "198.51.100.8", proxyV2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, r := getAfterPrefix(t, g.pp, tc.header(tc.client), "/x/"+tc.name)
			g.seesClient(t, status, r, tc.client)
		})
	}
	t.Run("no PROXY header", func(t *testing.T) {
		if status, _ := getAfterPrefix(t, g.pp, nil, "/x/direct"); status != 0 {
			t.Errorf("a connection without the PROXY header was answered %d", status)
		}
	})
}

// proxyV2 is a PROXY protocol v2 header for a TCP over IPv4 connection
// from client to 127.0.0.1:443.
func proxyV2(client string) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11) // v2 PROXY; TCP over IPv4
	b = binary.BigEndian.AppendUint16(b, 12)
	b = append(b, net.ParseIP(client).To4()...)
	b = append(b, 127, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, 40000)
	return binary.BigEndian.AppendUint16(b, 443)
}

// getAfterPrefix sends prefix then an HTTP/1.1 GET with a forged X-Forwarded-For
// on a new connection to addr, and returns the status (0 when the
// connection closed without an answer) and the service's reply.
func getAfterPrefix(t *testing.T, addr string, prefix []byte, path string) (int, reply) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 203.0.113.1\r\nConnection: close\r\n\r\n", path)
	if _, err := conn.Write(append(prefix, req...)); err != nil {
		return 0, reply{}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, reply{}
	}
	return replyOf(t, resp)
}

// A TLS listener behind a TCP load balancer reads the PROXY header before
// the TLS handshake, and its redirect_http_from listener reads it too.
func TestClientAddressProxyProtocolBeforeTLS(t *testing.T) {
	ca := mustCA(t, "proxy-protocol-ca")
	leaf := mustIssue(t, ca, testcerts.Options{CommonName: "api.example.com", DNSNames: []string{"api.example.com"}})
	g := startTLSGateway(t, map[string]string{"gateway.yaml": `listeners:
  - name: public
    address: 127.0.0.1
    port: {{PORT}}
    tls:
      certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }]
      redirect_http_from: {{HTTP_PORT}}
    client_address: { proxy_protocol: true }
routes:
  - { name: api, to: api }
` + servicesYAML(t, "api")}, map[string][]byte{"certs/api.pem": leaf.CertPEM, "certs/api-key.pem": leaf.KeyPEM}, false)

	header := fmt.Appendf(nil, "PROXY TCP4 198.51.100.9 127.0.0.1 40000 %s\r\n", portOf(g.addr))
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if _, err := conn.Write(header); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	tr := &http.Transport{Proxy: nil, DialContext: dial, ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "api.example.com"}}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	url := "https://" + g.addr + "/x"
	waitTLS(t, c, url)
	status, r, _, err := getReply(c, url, map[string]string{"x-forwarded-for": "203.0.113.1"})
	if err != nil || status != 200 || r.Headers["x-real-ip"] != "198.51.100.9" || r.Headers["x-forwarded-for"] != "198.51.100.9" {
		t.Errorf("over TLS after a PROXY header: status %d, err %v, x-real-ip %q, x-forwarded-for %q; want 198.51.100.9",
			status, err, r.Headers["x-real-ip"], r.Headers["x-forwarded-for"])
	}

	if status, _ := getAfterPrefix(t, g.httpAddr, header, "/x"); status != 301 {
		t.Errorf("redirect port after a PROXY header: status %d, want 301", status)
	}
	if status, _ := getAfterPrefix(t, g.httpAddr, nil, "/x"); status != 0 {
		t.Errorf("redirect port without a PROXY header answered %d, want the connection refused", status)
	}
}

// replyOf closes resp and returns its status and, on 200, the demo
// service's reply.
func replyOf(t *testing.T, resp *http.Response) (int, reply) {
	t.Helper()
	defer resp.Body.Close()
	var r reply
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, r
}
