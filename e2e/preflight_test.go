package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/preflight"
	"github.com/tollgate/tollgate/internal/redistest"
)

// slowDelay is how long the slow service takes to answer: its route's
// 700ms timeout is under twice that, whatever bucket of Envoy's
// histogram the p99 lands in, and leaves 300ms for a loaded machine
// before a request would time out.
const slowDelay = 400 * time.Millisecond

// TestPreflightLiveItemsAgainstARealGateway runs `tollgate preflight`
// against a real Envoy, Tollgate and demo services: a service slower than
// its route's timeout allows fails the timeout item at the line of that
// timeout, the test request shows in Envoy's access-log and request
// counters, and a small load test past a limit sees 429s, no 5xx and no
// Redis error in Tollgate's metrics. Not
// parallel: it depends on a slow endpoint and on a load test's timing.
func TestPreflightLiveItemsAgainstARealGateway(t *testing.T) {
	slow := upstream(t, "slow", 1, func(_ int, h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(slowDelay)
			h.ServeHTTP(w, r)
		})
	})[0]
	fast := upstream(t, "fast", 1, nil)[0]
	redis := redistest.Start(t)
	g := startGateway(t, map[string]string{"gateway.yaml": listenerYAML + fmt.Sprintf(`services:
  slow:
    endpoints: [%s]
    timeout: 700ms
    circuit_breaker: { max_requests: 100 }
    outlier_detection: { consecutive_5xx: 5 }
  fast:
    endpoints: [%s]
    timeout: 1s
    circuit_breaker: { max_requests: 100 }
    outlier_detection: { consecutive_5xx: 5 }
routes:
  - { name: slow, match: { path_prefix: /slow }, to: slow, rate_limits: [per-ip] }
  - { name: fast, match: { path_prefix: /fast }, to: fast, rate_limits: [per-ip] }
rate_limits:
  per-ip: { key: [client_ip], token_bucket: { rate: 5/s, burst: 5 } }
rate_limit_store: { redis: { address: %s }, on_failure: fail_closed }
`, slow, fast, redis.Addr)}, false, "/fast", "fast")

	// Measured traffic for the slow service, paced under its limit.
	for range 12 {
		if status, _ := call("GET", g.base+"/slow", nil); status != 200 {
			t.Fatalf("GET /slow: %d", status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Envoy publishes histograms at its stats flush (every 5s).
	eventually(t, 30*time.Second, func() error {
		_, body, err := httpGet(g.envoy.AdminURL()+"/stats/prometheus", nil)
		if err != nil {
			return err
		}
		if !strings.Contains(string(body), `envoy_cluster_upstream_rq_time_count{envoy_cluster_name="slow"} 12`) {
			return errors.New("the slow service's 12 requests are not in upstream_rq_time yet")
		}
		return nil
	})

	rep, out := runPreflight(t, "--policy", g.dir, "--json", "--envoy-admin", g.envoy.AdminURL(),
		"--prometheus", g.tollgate.adminURL("/metrics"), "--gateway", g.base, "--request", "/fast",
		"--min-samples", "10", "--load", "20/s", "--duration", "2s")
	if rep.Passed {
		t.Fatalf("preflight passed with a timeout under 2x the p99:\n%s", out)
	}
	timeouts := item(t, rep, "live-timeouts")
	wantAt := filepath.Join(g.dir, "gateway.yaml") + ":6:14"
	if timeouts.Status != preflight.Fail || len(timeouts.Findings) != 1 || timeouts.Findings[0].At != wantAt ||
		!strings.Contains(timeouts.Findings[0].Message, "route slow times out after 700ms, under 2x") {
		t.Errorf("live-timeouts: want one failure at %s for route slow, got %+v", wantAt, timeouts)
	}
	if r := item(t, rep, "test-request"); r.Status != preflight.Pass {
		t.Errorf("test-request: %+v", r)
	}
	if r := item(t, rep, "live-circuit-breakers"); r.Status != preflight.Pass || !strings.Contains(r.Detail, "slow 0.00% 5xx") {
		t.Errorf("live-circuit-breakers: %+v", r)
	}
	// 40 requests at 20/s against 5 + 5/s: about 25 are refused, counted
	// in Redis.
	load := item(t, rep, "load-test")
	if load.Status != preflight.Pass || !strings.Contains(load.Detail, "0 5xx, 0 failed") || strings.Contains(load.Detail, " 0 429") {
		t.Errorf("load-test: want 429s and no 5xx, got %+v", load)
	}

	// With Redis gone, the same load test fails at the store's line.
	redis.Stop()
	rep, _ = runPreflight(t, "--policy", g.dir, "--json", "--prometheus", g.tollgate.adminURL("/metrics"),
		"--gateway", g.base, "--request", "/fast", "--load", "20/s", "--duration", "1s")
	load = item(t, rep, "load-test")
	storeAt := filepath.Join(g.dir, "gateway.yaml") + ":19:19"
	if load.Status != preflight.Fail || !slices.ContainsFunc(load.Findings, func(f preflight.Finding) bool {
		return f.At == storeAt && strings.Contains(f.Message, "Redis failed")
	}) {
		t.Errorf("load-test with Redis stopped: want a failure at %s, got %+v", storeAt, load)
	}
}

// runPreflight runs the tollgate binary's preflight and decodes its JSON.
func runPreflight(t *testing.T, args ...string) (preflight.Report, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(tollgateBin, append([]string{"preflight"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	raceFree(t, "tollgate preflight", stderr.String())
	var rep preflight.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("preflight output is not JSON (%v):\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); (code == 0) != rep.Passed {
		t.Errorf("exit %d with passed %v", code, rep.Passed)
	}
	return rep, stdout.String()
}

func item(t *testing.T, rep preflight.Report, id string) preflight.Result {
	t.Helper()
	for _, r := range rep.Items {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no item %s in the report", id)
	return preflight.Result{}
}
