package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkCredentialFilterCost measures a request whose query string
// carries an API key, which the credential filter's Lua script removes,
// against requests without one on the same gateway (Envoy's matcher skips
// the script for them), measured first in the same run. It reports µs per
// request and the ratio to that baseline.
func BenchmarkCredentialFilterCost(b *testing.B) {
	requireEnvoy(b)
	addr := freeAddr(b)
	port := addr[strings.LastIndex(addr, ":")+1:]
	svc := upstream(b, "svc", 1, nil)[0]
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "gateway.yaml"), fmt.Sprintf(
		"listeners: [{ name: public, address: 127.0.0.1, port: %s }]\nservices: { svc: { endpoints: [%s] } }\nroutes: [{ name: r, to: svc }]\naccess_log: { disabled: true }\n", port, svc))
	tg := startTollgate(b, dir, "")
	startEnvoy(b, tg.grpcAddr, "default", false)
	base := "http://" + addr + "/bench?page=2&sort=name"
	waitStatus(b, base, 200, 30*time.Second)

	timeRequests(b, base, 500) // warm up connections and Envoy
	baseline := timeRequests(b, base, 2000)
	keyed := base + "&api_key=tg_partner_" + strings.Repeat("a", 32)

	b.ResetTimer()
	perRequest := timeRequests(b, keyed, b.N)
	b.ReportMetric(float64(perRequest.Microseconds()), "µs/request")
	b.ReportMetric(float64(baseline.Microseconds()), "µs/request-baseline")
	b.ReportMetric(float64(perRequest)/float64(baseline), "x-baseline")
}
