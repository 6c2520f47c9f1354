package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/demoservice"
)

// demoServer is one demo instance whose server a test may stop.
type demoServer struct {
	addr string
	srv  *http.Server
}

// demoServers starts n demo instances of name, each handler wrapped by wrap.
func demoServers(t *testing.T, name string, n int, wrap func(i int, h http.Handler) http.Handler) []*demoServer {
	t.Helper()
	var out []*demoServer
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		d := &demoServer{addr: lis.Addr().String()}
		var h http.Handler = demoservice.New(name, d.addr)
		if wrap != nil {
			h = wrap(i, h)
		}
		d.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = d.srv.Serve(lis) }()
		t.Cleanup(func() { _ = d.srv.Close() })
		out = append(out, d)
	}
	return out
}

func addrsOf(ds []*demoServer) string {
	var addrs []string
	for _, d := range ds {
		addrs = append(addrs, d.addr)
	}
	return strings.Join(addrs, ", ")
}

// attemptReply is the part of the demo service's answer that counts tries.
type attemptReply struct {
	Instance string `json:"instance"`
	Attempt  int    `json:"attempt"`
}

// callAttempt sends a request and returns the status and the attempt
// number the service saw (0 when the answer is not the service's).
func callAttempt(t *testing.T, method, url string, headers map[string]string) (int, int) {
	t.Helper()
	status, body, err := httpDo(method, url, headers)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	var r attemptReply
	_ = json.Unmarshal(body, &r)
	return status, r.Attempt
}

func stat(t *testing.T, e *envoy.Process, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := e.Stats(ctx, "^"+strings.ReplaceAll(name, ".", `\.`)+"$")
	if err != nil {
		t.Fatal(err)
	}
	return stats[name]
}

func waitStat(t *testing.T, e *envoy.Process, name string, cond func(int64) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.WaitForStat(ctx, name, cond); err != nil {
		t.Fatal(err)
	}
}

func TestCircuitBreakerFailsFastBeyondTheLimit(t *testing.T) {
	addrs := upstream(t, "slow", 1, nil)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  slow:
    endpoints: [%s]
    circuit_breaker: { max_connections: 1, max_pending: 1, max_requests: 1 }
routes:
  - { name: slow, to: slow }
`, addrs[0]),
	}, false, "/", "slow")
	e := g.envoy

	const n, delay = 8, time.Second
	type result struct {
		status     int
		overloaded bool
		took       time.Duration
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			req, _ := http.NewRequest("GET", g.base+"/work?delay="+delay.String(), nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			resp.Body.Close()
			results[i] = result{resp.StatusCode, resp.Header.Get("x-envoy-overloaded") == "true", time.Since(start)}
		})
	}
	wg.Wait()
	var ok, shed int
	for _, r := range results {
		switch {
		case r.status == 200:
			ok++
		case r.status == 503 && r.overloaded:
			shed++
			// Shed requests are refused at once, not after waiting for the
			// slow service: well under the service's delay.
			if r.took >= delay {
				t.Errorf("a shed request took %v, as long as the slow service", r.took)
			}
		default:
			t.Errorf("unexpected answer %+v", r)
		}
	}
	t.Logf("circuit breaker: %d served, %d shed with 503", ok, shed)
	// One active and one pending request fit; the other six cannot.
	if ok < 1 || shed < n-3 {
		t.Errorf("served %d, shed %d of %d; want at least 1 served and %d shed", ok, shed, n, n-3)
	}
	if v := stat(t, e, "cluster.slow.upstream_rq_pending_overflow"); v == "" || v == "0" {
		t.Errorf("upstream_rq_pending_overflow = %q, want > 0", v)
	}
}

// failSwitch makes instance 0 answer 500 while on.
func failSwitch(on *atomic.Bool) func(i int, h http.Handler) http.Handler {
	return func(i int, h http.Handler) http.Handler {
		if i != 0 {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if on.Load() && r.URL.Path != "/healthz" {
				http.Error(w, "failing", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestOutlierDetectionEjectsAndReadmits(t *testing.T) {
	var failing atomic.Bool
	ds := demoServers(t, "flaky", 2, failSwitch(&failing))
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  flaky:
    endpoints: [%s]
    outlier_detection: { consecutive_5xx: 3, interval: 200ms, base_ejection_time: 1s, max_ejection_percent: 50 }
routes:
  - { name: flaky, to: flaky }
`, addrsOf(ds)),
	}, false, "/", "flaky")
	e := g.envoy
	url := g.base + "/x"
	if counts := concurrentCalls(t, url, 20, 1, nil); counts[ds[0].addr] == 0 || counts[ds[1].addr] == 0 {
		t.Fatalf("both endpoints should serve before the failure: %v", counts)
	}

	failing.Store(true)
	// Three 500s in a row from the bad endpoint eject it at once.
	eventually(t, 5*time.Second, func() error {
		if counts := concurrentCalls(t, url, 10, 1, nil); counts[ds[1].addr] != 10 {
			return fmt.Errorf("traffic not yet all on the healthy endpoint: %v", counts)
		}
		return nil
	})
	waitStat(t, e, "cluster.flaky.outlier_detection.ejections_enforced_consecutive_5xx", func(v int64) bool { return v >= 1 })
	if counts := concurrentCalls(t, url, 20, 1, nil); counts[ds[1].addr] != 20 {
		t.Errorf("while ejected, traffic must all go to the healthy endpoint: %v", counts)
	}

	failing.Store(false)
	// After base_ejection_time the endpoint is let back in and, serving
	// well again, keeps its share.
	eventually(t, 6*time.Second, func() error {
		if counts := concurrentCalls(t, url, 10, 1, nil); counts[ds[0].addr] == 0 {
			return fmt.Errorf("recovered endpoint gets no traffic yet: %v", counts)
		}
		return nil
	})
}

func TestHealthChecksTakeEndpointsOutOfRotation(t *testing.T) {
	ds := demoServers(t, "checked", 2, nil)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  checked:
    endpoints: [%s]
    health_check: { path: /healthz, interval: 200ms, timeout: 150ms, healthy_threshold: 1, unhealthy_threshold: 1 }
routes:
  - { name: retrying, match: { path_prefix: /retrying }, to: checked, retries: { attempts: 1, on: [connect-failure, reset] } }
  - { name: checked, to: checked }
`, addrsOf(ds)),
	}, false, "/", "checked")
	e := g.envoy
	url := g.base + "/x"
	healthy := "cluster.checked.membership_healthy"
	waitStat(t, e, healthy, func(v int64) bool { return v == 2 })

	// An instance whose /healthz fails leaves the rotation; it still
	// answers, so no client sees an error meanwhile.
	setHealth(t, ds[0].addr, 500)
	errorsDuring := clientErrorsUntil(t, url, func() { waitStat(t, e, healthy, func(v int64) bool { return v == 1 }) })
	if n := errorsDuring; n != 0 {
		t.Errorf("%d client errors while an instance failed its health check", n)
	}
	if counts := concurrentCalls(t, url, 20, 1, nil); counts[ds[1].addr] != 20 {
		t.Errorf("an unhealthy instance still gets traffic: %v", counts)
	}
	setHealth(t, ds[0].addr, 200)
	waitStat(t, e, healthy, func(v int64) bool { return v == 2 })
	eventually(t, 5*time.Second, func() error {
		if counts := concurrentCalls(t, url, 10, 1, nil); counts[ds[0].addr] == 0 {
			return fmt.Errorf("the recovered instance gets no traffic yet: %v", counts)
		}
		return nil
	})

	// A stopped instance fails its next probe and leaves the rotation;
	// from then on no client request goes to it. Until that probe, a
	// request sent to it fails to connect: a route that retries on
	// connect-failure hides even those, so its clients see no error.
	var stopped int
	hidden := clientErrorsUntil(t, g.base+"/retrying", func() {
		_ = ds[1].srv.Close()
		stopped = clientErrorsUntil(t, url, func() { waitStat(t, e, healthy, func(v int64) bool { return v == 1 }) })
	})
	t.Logf("health checks: %d errors without retries until the probe found the stopped instance, %d with connect-failure retries", stopped, hidden)
	if hidden != 0 {
		t.Errorf("%d client errors on the route that retries connect failures", hidden)
	}
	counts := concurrentCalls(t, url, 40, 4, nil)
	if counts[ds[0].addr] != 40 {

		t.Errorf("after an instance stopped and its health check failed, requests failed: %v", counts)
	}
	t.Logf("health checks: after the stop %v", counts)
}

// clientErrorsUntil sends GETs to url one after another while during runs,
// and counts the answers that are not 200.
func clientErrorsUntil(t *testing.T, url string, during func()) int {
	t.Helper()
	stop := make(chan struct{})
	var errs atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if status, _ := call("GET", url, nil); status != 200 {
				errs.Add(1)
			}
			time.Sleep(5 * time.Millisecond) // a steady client, not a flood
		}
	})
	during()
	close(stop)
	wg.Wait()
	return int(errs.Load())
}

// setHealth makes a demo instance's /healthz answer status.
func setHealth(t *testing.T, addr string, status int) {
	t.Helper()
	resp, err := client.Post(fmt.Sprintf("http://%s/_demo/health?status=%d", addr, status), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestRetriesAndTimeouts(t *testing.T) {
	addrs := upstream(t, "svc", 1, nil)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  svc:
    endpoints: [%s]
    timeout: 400ms
    retry_budget: { percent: 50, min_concurrency: 5 }
routes:
  - name: keyed
    match: { path_prefix: /keyed }
    to: svc
    retries: { attempts: 2, on: [gateway-error], backoff: { base: 10ms }, allow_with_idempotency_key: true }
  - name: plain
    match: { path_prefix: /plain }
    to: svc
    retries: { attempts: 2, on: [gateway-error], backoff: { base: 10ms } }
  - { name: fast, match: { path_prefix: /fast }, to: svc, timeout: 300ms }
  - { name: default, to: svc }
`, addrs[0]),
	}, false, "/", "svc")
	e := g.envoy
	key := map[string]string{"Idempotency-Key": "order-42"}
	cases := []struct {
		name, method, path string
		headers            map[string]string
		status, attempt    int
	}{
		{"GET retried", "GET", "/plain?fail_attempts=1", nil, 200, 2},
		{"HEAD-like safe method OPTIONS retried", "OPTIONS", "/plain?fail_attempts=1", nil, 200, 2},
		{"GET gives up after attempts", "GET", "/plain?fail_attempts=5", nil, 503, 3},
		{"POST not retried", "POST", "/plain?fail_attempts=1", nil, 503, 1},
		{"POST with key not retried where not allowed", "POST", "/plain?fail_attempts=1", key, 503, 1},
		{"POST without key not retried", "POST", "/keyed?fail_attempts=1", nil, 503, 1},
		{"POST with key retried where allowed", "POST", "/keyed?fail_attempts=1", key, 200, 2},
		{"PUT with key retried where allowed", "PUT", "/keyed?fail_attempts=1", key, 200, 2},
		{"DELETE without key not retried", "DELETE", "/keyed?fail_attempts=1", nil, 503, 1},
		{"a client cannot ask Envoy to retry a POST", "POST", "/default?fail_attempts=1", map[string]string{"x-envoy-retry-on": "5xx", "x-envoy-max-retries": "3"}, 503, 1},
	}
	for _, tc := range cases {
		status, attempt := callAttempt(t, tc.method, g.base+tc.path, tc.headers)
		if status != tc.status || attempt != tc.attempt {
			t.Errorf("%s: %s %s: got status %d at attempt %d, want %d at attempt %d",
				tc.name, tc.method, tc.path, status, attempt, tc.status, tc.attempt)
		}
	}
	if v := stat(t, e, "cluster.svc.upstream_rq_retry"); v == "" || v == "0" {
		t.Errorf("upstream_rq_retry = %q, want > 0", v)
	}

	// Timeouts: the route's own (300ms), and the service default (400ms)
	// for a route that sets none. 504 comes within the bound plus a margin
	// for a loaded 2-core machine, long before the 3s the service takes.
	for _, tc := range []struct {
		path  string
		bound time.Duration
	}{{"/fast?delay=3s", 300 * time.Millisecond}, {"/other?delay=3s", 400 * time.Millisecond}} {
		start := time.Now()
		status, _, err := httpGet(g.base+tc.path, nil)
		took := time.Since(start)
		if err != nil || status != 504 {
			t.Errorf("GET %s: status %d, err %v; want 504", tc.path, status, err)
		}
		if took < tc.bound-50*time.Millisecond || took > tc.bound+700*time.Millisecond {
			t.Errorf("GET %s: 504 after %v, want between %v and %v", tc.path, took, tc.bound, tc.bound+700*time.Millisecond)
		}
	}
}
