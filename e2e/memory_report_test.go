package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemoryReport measures the real tollgate binary serving a real Envoy
// policies of 1,000, 10,000 and 20,000 routes, then 1,000 again: the live
// heap after the garbage collection that follows each generation (from
// GODEBUG=gctrace=1) and the resident set size (process_resident_memory_bytes).
// It is a measurement, not a check, and runs only when asked:
//
//	TOLLGATE_MEMREPORT=1 go test -count=1 -v -run TestMemoryReport ./e2e/
//
// The figures are in docs/benchmarks.md ("Memory").
func TestMemoryReport(t *testing.T) {
	if os.Getenv("TOLLGATE_MEMREPORT") == "" {
		t.Skip("a measurement: set TOLLGATE_MEMREPORT=1 to run it")
	}
	requireEnvoy(t)
	t.Setenv("GODEBUG", "gctrace=1")
	addr := freeAddr(t)
	backend := upstream(t, "api", 1, nil)[0]
	dir := policyDir(t, map[string]string{"gateway.yaml": memoryPolicy(addr, backend, 1000)})
	tg := startTollgate(t, dir, "")
	startEnvoy(t, tg.grpcAddr, "default", false)

	t.Logf("%-22s %12s %12s %12s", "routes", "live heap", "heap in use", "RSS")
	for i, n := range []int{1000, 10000, 20000, 1000} {
		if i > 0 {
			writeFile(t, filepath.Join(dir, "gateway.yaml"), memoryPolicy(addr, backend, n))
		}
		last := fmt.Sprintf("http://%s/r/%06d", addr, n-1)
		eventually(t, 120*time.Second, func() error {
			if status, _ := call("GET", last, nil); status != 200 {
				return fmt.Errorf("GET %s: %d", last, status)
			}
			if i == 3 {
				if status, _ := call("GET", fmt.Sprintf("http://%s/r/%06d", addr, 19999), nil); status != 404 {
					return fmt.Errorf("the 20,000-route policy is still served")
				}
			}
			return nil
		})
		// Settle: let the runtime collect and return memory as it would
		// on an idle gateway (a forced collection runs every 2 minutes).
		time.Sleep(150 * time.Second)
		label := fmt.Sprintf("%d", n)
		if i == 3 {
			label = "1000 after 20000"
		}
		t.Logf("%-22s %12s %12s %12s", label, mb(lastLiveHeap(tg.log.String())),
			mb(atof(tg.metric(t, "go_memstats_heap_inuse_bytes"))), mb(atof(tg.metric(t, "process_resident_memory_bytes"))))
	}
}

// memoryPolicy is one listener and n routes over n/10 services, every
// service an endpoint at backend.
func memoryPolicy(listen, backend string, n int) string {
	var b strings.Builder
	port := listen[strings.LastIndex(listen, ":")+1:]
	// The report shrinks 20,000 routes to 1,000 on purpose.
	b.WriteString("reload_guard: { max_removed_routes_percent: 100 }\n")
	fmt.Fprintf(&b, "listeners:\n  - { name: public, address: 127.0.0.1, port: %s }\nservices:\n", port)
	services := max(n/10, 1)
	for s := range services {
		fmt.Fprintf(&b, "  svc-%05d: { endpoints: [%s] }\n", s, backend)
	}
	b.WriteString("routes:\n")
	for r := range n {
		fmt.Fprintf(&b, "  - { name: r-%06d, match: { path: /r/%06d }, to: svc-%05d }\n", r, r, r%services)
	}
	return b.String()
}

// gcLine is a GODEBUG=gctrace=1 line; its third heap size is the live heap
// marked by that collection.
var gcLine = regexp.MustCompile(`gc \d+ .* (\d+)->(\d+)->(\d+) MB`)

// lastLiveHeap is the live heap, in bytes, after the last collection.
func lastLiveHeap(log string) float64 {
	m := gcLine.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return -1
	}
	return atof(m[len(m)-1][3]) * (1 << 20)
}

func atof(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return -1
	}
	return v
}

func mb(bytes float64) string { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }
