package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkAccessLogCost measures a request through Envoy with access
// logging to a file and to Tollgate over gRPC, against the same gateway
// with access logging disabled, measured first in the same run. It reports
// µs per request and the ratio to that baseline.
func BenchmarkAccessLogCost(b *testing.B) {
	for _, sink := range []string{"file", "grpc"} {
		b.Run("sink="+sink, func(b *testing.B) { benchmarkAccessLog(b, sink) })
	}
}

func benchmarkAccessLog(b *testing.B, sink string) {
	requireEnvoy(b)
	addr := freeAddr(b)
	port := addr[strings.LastIndex(addr, ":")+1:]
	svc := upstream(b, "svc", 1, nil)[0]
	dir := b.TempDir()
	logPath := filepath.Join(b.TempDir(), "access.log")
	writeFile(b, filepath.Join(dir, "gateway.yaml"), fmt.Sprintf(
		"listeners: [{ name: public, address: 127.0.0.1, port: %s }]\nservices: { svc: { endpoints: [%s] } }\nroutes: [{ name: r, to: svc }]\n", port, svc))
	writeFile(b, filepath.Join(dir, "log.yaml"), "access_log: { disabled: true }\n")
	tg := startTollgate(b, dir, "")
	startEnvoy(b, tg.grpcAddr, "default", false)
	url := "http://" + addr + "/bench"
	waitStatus(b, url, 200, 30*time.Second)

	timeRequests(b, url, 500) // warm up connections and Envoy
	baseline := timeRequests(b, url, 2000)

	config := map[string]string{"file": "access_log: { path: " + logPath + " }\n", "grpc": "access_log: { grpc: true }\n"}[sink]
	writeFile(b, filepath.Join(dir, "log.yaml"), config)
	// Applied once a request shows up in the sink.
	written := map[string]func() string{"file": func() string { return readFileOrEmpty(logPath) }, "grpc": tg.log.String}[sink]
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(written(), `"route":"r"`) {
		if time.Now().After(deadline) {
			b.Fatalf("no access-log entry in the %s sink", sink)
		}
		_, _, _ = httpGet(url, nil)
		time.Sleep(50 * time.Millisecond)
	}

	b.ResetTimer()
	perRequest := timeRequests(b, url, b.N)
	b.ReportMetric(float64(perRequest.Microseconds()), "µs/request")
	b.ReportMetric(float64(baseline.Microseconds()), "µs/request-baseline")
	b.ReportMetric(float64(perRequest)/float64(baseline), "x-baseline")
}

// timeRequests sends n sequential GETs and returns the mean time of one.
func timeRequests(b *testing.B, url string, n int) time.Duration {
	start := time.Now()
	for range n {
		if status, _, err := httpGet(url, nil); err != nil || status != 200 {
			b.Fatalf("GET %s: %d %v", url, status, err)
		}
	}
	return time.Since(start) / time.Duration(n)
}
