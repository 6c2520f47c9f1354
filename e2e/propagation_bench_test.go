package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkPropagation measures how long a one-route change takes from the
// file write to the first request Envoy routes by it, with 10 routes (the
// baseline) and 1,000 routes configured. The ratio of the two shows what
// policy size costs; the absolute figure includes the watcher's debounce.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) { benchmarkPropagation(b, n) })
	}
}

func benchmarkPropagation(b *testing.B, routes int) {
	requireEnvoy(b)
	addr := freeAddr(b)
	port := addr[strings.LastIndex(addr, ":")+1:]
	svc := upstream(b, "svc", 1, nil)[0]
	var base strings.Builder
	fmt.Fprintf(&base, "listeners: [{ name: public, address: 127.0.0.1, port: %s }]\nservices: { svc: { endpoints: [%s] } }\nroutes:\n", port, svc)
	for i := range routes {
		fmt.Fprintf(&base, "  - { name: r%d, match: { path_prefix: /r%d/ }, to: svc }\n", i, i)
	}
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "10-base.yaml"), base.String())
	writeFile(b, filepath.Join(dir, "20-extra.yaml"), "routes: [{ name: extra-0, match: { path_prefix: /extra-0 }, to: svc }]\n")
	tg := startTollgate(b, dir, "")
	startEnvoy(b, tg.grpcAddr, "default", false)
	url := "http://" + addr
	waitStatus(b, url+"/extra-0", 200, 30*time.Second)

	b.ResetTimer()
	var total time.Duration
	for i := 1; i <= b.N; i++ {
		start := time.Now()
		writeFile(b, filepath.Join(dir, "20-extra.yaml"),
			fmt.Sprintf("routes: [{ name: extra-%d, match: { path_prefix: /extra-%d }, to: svc }]\n", i, i))
		waitStatus(b, fmt.Sprintf("%s/extra-%d", url, i), 200, 30*time.Second)
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/change")
}

// waitStatus polls url every 2ms until it answers status.
func waitStatus(b *testing.B, url string, status int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		got, _, _ := httpGet(url, nil)
		if got == status {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s answered %d, want %d after %v", url, got, status, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
