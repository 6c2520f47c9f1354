package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testcerts"
)

// BenchmarkTLSListener measures GETs through one Envoy on a plain listener
// (the baseline) and on a TLS listener, with the connection kept alive and
// with a new connection (a full handshake) per request, and reports each
// TLS figure as a ratio of its plain baseline, measured in the same run.
func BenchmarkTLSListener(b *testing.B) {
	requireEnvoy(b)
	ca, err := testcerts.NewCA("bench-ca")
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue(testcerts.Options{CommonName: "bench.example.com", DNSNames: []string{"bench.example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	plainAddr, tlsAddr := freeAddr(b), freeAddr(b)
	dir := policyDir(b, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners:
  - { name: plain, address: 127.0.0.1, port: %s }
  - { name: secure, address: 127.0.0.1, port: %s, tls: { certificates: [{ cert: certs/c.pem, key: certs/k.pem }] } }
services:
  svc: { endpoints: [%s] }
routes:
  - { name: svc, to: svc }
`, portOf(plainAddr), portOf(tlsAddr), upstream(b, "svc", 1, nil)[0])})
	if err := leaf.Write(dir+"/certs/c.pem", dir+"/certs/k.pem"); err != nil {
		b.Fatal(err)
	}
	tg := startTollgate(b, dir, "")
	startEnvoy(b, tg.grpcAddr, "default", false)
	waitStatus(b, "http://"+plainAddr+"/", 200, 20*time.Second)

	tlsConfig := &tls.Config{RootCAs: ca.Pool(), ServerName: "bench.example.com"}
	clients := map[string]*http.Client{
		"plain-keepalive": {Transport: &http.Transport{Proxy: nil}},
		"tls-keepalive":   {Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsConfig}},
		"plain-newconn":   {Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		"tls-newconn":     {Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlsConfig, DisableKeepAlives: true}},
	}
	urls := map[string]string{"plain": "http://" + plainAddr + "/x", "tls": "https://" + tlsAddr + "/x"}
	get := func(name, url string) time.Duration {
		start := time.Now()
		resp, err := clients[name].Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: status %d", name, resp.StatusCode)
		}
		return time.Since(start)
	}
	totals := map[string]time.Duration{}
	for name := range clients {
		get(name, urls[scheme(name)]) // warm up
	}
	b.ResetTimer()
	for b.Loop() {
		for _, name := range []string{"plain-keepalive", "tls-keepalive", "plain-newconn", "tls-newconn"} {
			totals[name] += get(name, urls[scheme(name)])
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(totals["plain-keepalive"].Microseconds())/n, "µs/plain-keepalive")
	b.ReportMetric(float64(totals["tls-keepalive"].Microseconds())/n, "µs/tls-keepalive")
	b.ReportMetric(float64(totals["plain-newconn"].Microseconds())/n, "µs/plain-newconn")
	b.ReportMetric(float64(totals["tls-newconn"].Microseconds())/n, "µs/tls-newconn")
	b.ReportMetric(float64(totals["tls-keepalive"])/float64(totals["plain-keepalive"]), "x-keepalive")
	b.ReportMetric(float64(totals["tls-newconn"])/float64(totals["plain-newconn"]), "x-newconn")
}

// scheme is the listener a client name measures: "plain" or "tls".
func scheme(client string) string {
	s, _, _ := strings.Cut(client, "-")
	return s
}
