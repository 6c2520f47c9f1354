package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testenv"
)

// rlGateway is Envoy, a control plane (--only xds) and a rate-limit
// service (--only ratelimit) on a real Redis, as separate processes.
type rlGateway struct {
	base      string
	redis     *redistest.Server
	ratelimit *tollgate
	events    string
	accessLog *testenv.Buffer // Envoy's stdout: the JSON access log
}

// startEnvoyWithAccessLog is startEnvoy keeping Envoy's stdout, where the
// access log goes, flushed every 100ms.
func startEnvoyWithAccessLog(t testing.TB, xdsAddr string) *testenv.Buffer {
	t.Helper()
	_, out := startEnvoyKeepingStdout(t, xdsAddr)
	return out
}

// startEnvoyKeepingStdout is startEnvoyWithAccessLog returning the
// process too, for its stats.
func startEnvoyKeepingStdout(t testing.TB, xdsAddr string) (*envoy.Process, *testenv.Buffer) {
	t.Helper()
	out, log := &testenv.Buffer{}, &testenv.Buffer{}
	p, err := envoy.Start(context.Background(), envoy.Config{
		Binary: requireEnvoy(t), XDSAddress: xdsAddr, Stdout: out, Stderr: log, LogLevel: "warn",
		ExtraArgs: []string{"--file-flush-interval-msec", "100"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("envoy log:\n%s", log)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitLive(ctx); err != nil {
		t.Fatalf("envoy not live: %v\n%s", err, log)
	}
	return p, out
}

func startRateLimitGateway(t *testing.T, policy string, rlFlags ...string) *rlGateway {
	t.Helper()
	requireEnvoy(t)
	g := &rlGateway{redis: redistest.Start(t)}
	addr := freeAddr(t)
	g.base = "http://" + addr
	port := addr[strings.LastIndex(addr, ":")+1:]
	dir := policyDir(t, map[string]string{
		"10-listeners.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", port),
		"20-services.yaml":  servicesYAML(t, "api"),
		"30-policy.yaml":    policy,
	})
	g.events = filepath.Join(t.TempDir(), "events.jsonl")
	flags := append([]string{"--only", "ratelimit", "--redis", g.redis.Addr, "--ratelimit-events", g.events, "--ratelimit-events-interval", "200ms"}, rlFlags...)
	g.ratelimit = startTollgateWith(t, dir, flags...)
	cp := startTollgateWith(t, dir, "--only", "xds", "--ratelimit-address", g.ratelimit.grpcAddr)
	g.accessLog = startEnvoyWithAccessLog(t, cp.grpcAddr)
	waitService(t, g.base+"/open", nil, "api")
	return g
}

const rateLimitPolicy = `
routes:
  - { name: open, match: { path_prefix: /open }, to: api }
  - { name: per-ip, match: { path_prefix: /per-ip }, to: api, rate_limits: [per-ip-anonymous, per-tenant] }
  - { name: tenant, match: { path_prefix: /tenant }, to: api, rate_limits: [per-tenant] }
  - { name: route, match: { path_prefix: /route }, to: api, rate_limits: [per-route] }
  - { name: shadow, match: { path_prefix: /shadow }, to: api, rate_limits: [shadow-ip] }
  - { name: tiered, match: { path_prefix: /tiered }, to: api, rate_limits: [gold, free, tier-by-header] }
rate_limits:
  per-ip-anonymous: { when: anonymous, key: [client_ip], token_bucket: { rate: 1/h, burst: 3 }, headers: true }
  per-tenant: { key: [header:x-tenant], fixed_window: { limit: 5, window: 1h } }
  per-route: { key: [route], sliding_window: { limit: 2, window: 1h } }
  shadow-ip: { key: [client_ip], fixed_window: { limit: 1, window: 1h }, shadow: true }
  gold: { key: [client_id], fixed_window: { limit: 100, window: 1h } }
  free: { key: [client_id], fixed_window: { limit: 1, window: 1h } }
  tier-by-header: { key: [header:x-plan], fixed_window: { limit: 2, window: 1h } }
tiers:
  gold: { rate_limits: [gold] }
  free: { rate_limits: [free] }
`

// get sends a GET through the gateway, failing the test when it fails.
func get(t *testing.T, url string, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	return mustRoundTrip(t, "GET", url, headers, "")
}

func statuses(t *testing.T, url string, n int, headers map[string]string) string {
	t.Helper()
	var out []string
	for range n {
		resp, _ := get(t, url, headers)
		out = append(out, fmt.Sprint(resp.StatusCode))
	}
	return strings.Join(out, ",")
}

func TestRateLimitsThroughEnvoyWithRedis(t *testing.T) {
	// Serial: every decision must reach Redis within --redis-timeout
	// (50 ms), or fail_open admits what the test expects refused.
	g := startRateLimitGateway(t, rateLimitPolicy)

	t.Run("per-IP token bucket, 429 with headers and JSON body", func(t *testing.T) {
		for i := 3; i > 0; i-- {
			resp, _ := get(t, g.base+"/per-ip", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", 4-i, resp.StatusCode)
			}
			// headers: true asks for RateLimit on admitted responses.
			checkRateLimit(t, resp.Header, "per-ip-anonymous", int64(i-1), 10800)
		}
		resp, body := get(t, g.base+"/per-ip", nil)
		if resp.StatusCode != 429 {
			t.Fatalf("4th: %d %s", resp.StatusCode, body)
		}
		if got, want := sfListString(t, resp.Header, "RateLimit-Policy"), `"per-ip-anonymous";q=3;w=10800`; got != want {
			t.Errorf("RateLimit-Policy parses as %s, want %s", got, want)
		}
		checkRateLimit(t, resp.Header, "per-ip-anonymous", 0, 10800)
		if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("missing Retry-After or Content-Type: %v", resp.Header)
		}
		var reply struct {
			Error, Limit string
		}
		if err := json.Unmarshal(body, &reply); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		if reply.Limit != "per-ip-anonymous" {
			t.Errorf("body names %q: %s", reply.Limit, body)
		}
	})

	t.Run("header key counts per value", func(t *testing.T) {
		a := map[string]string{"x-tenant": "acme"}
		if got := statuses(t, g.base+"/tenant", 6, a); got != "200,200,200,200,200,429" {
			t.Errorf("acme: %s", got)
		}
		if got := statuses(t, g.base+"/tenant", 1, map[string]string{"x-tenant": "globex"}); got != "200" {
			t.Errorf("globex shares acme's counter: %s", got)
		}
	})

	t.Run("per-route sliding window", func(t *testing.T) {
		if got := statuses(t, g.base+"/route", 3, nil); got != "200,200,429" {
			t.Errorf("route: %s", got)
		}
	})

	t.Run("shadow never refuses", func(t *testing.T) {
		if got := statuses(t, g.base+"/shadow", 4, nil); got != "200,200,200,200" {
			t.Errorf("shadow: %s", got)
		}
	})

	t.Run("a client cannot pick its tier", func(t *testing.T) {
		// x-tollgate-* headers are stripped, so the free tier's limit of 1
		// cannot be escaped or triggered by a forged tier; the header-keyed
		// stand-in for a plan still limits.
		forged := map[string]string{"x-tollgate-tier": "free", "x-tollgate-client-id": "c1", "x-tollgate-auth": "api_key", "x-plan": "basic"}
		if got := statuses(t, g.base+"/tiered", 3, forged); got != "200,200,429" {
			t.Errorf("tiered: %s", got)
		}
	})

	t.Run("the refusing limit in the access log", func(t *testing.T) {
		eventually(t, 5*time.Second, func() error {
			for _, line := range strings.Split(g.accessLog.String(), "\n") {
				var entry struct {
					Status    int
					Route     string
					RateLimit string `json:"rate_limit"`
				}
				if json.Unmarshal([]byte(line), &entry) == nil && entry.Status == 429 && entry.Route == "route" && entry.RateLimit == "per-route" {
					return nil
				}
			}
			return fmt.Errorf("no 429 access log line naming per-route in:\n%s", g.accessLog)
		})
	})

	t.Run("refusals in the event log and metrics", func(t *testing.T) {
		eventually(t, 5*time.Second, func() error {
			data, _ := os.ReadFile(g.events)
			for _, limit := range []string{"per-ip-anonymous", "per-tenant", "per-route", "shadow-ip"} {
				if !strings.Contains(string(data), `"limit":"`+limit+`"`) {
					return fmt.Errorf("no event for %s in:\n%s", limit, data)
				}
			}
			if strings.Contains(string(data), "acme") {
				return fmt.Errorf("a header value reached the event log:\n%s", data)
			}
			return nil
		})
		if v := g.ratelimit.metric(t, `tollgate_ratelimit_decisions_total{limit="per-route",result="refused"}`); v != "1" {
			t.Errorf("per-route refusals: %q", v)
		}
		if v := g.ratelimit.metric(t, `tollgate_ratelimit_redis_duration_seconds_count`); v == "" || v == "0" {
			t.Errorf("no Redis round trips measured: %q", v)
		}
	})
}

// TestRedisStoppedBehindEnvoy stops Redis mid-traffic with fail_closed:
// every request is refused while it is down, the degraded metric and log
// appear, and limiting resumes when it is back.
func TestRedisStoppedBehindEnvoy(t *testing.T) {
	g := startRateLimitGateway(t, rateLimitPolicy, "--ratelimit-on-failure", "fail_closed", "--redis-timeout", "100ms")
	h := map[string]string{"x-tenant": "t1"}
	if got := statuses(t, g.base+"/tenant", 2, h); got != "200,200" {
		t.Fatalf("before: %s", got)
	}
	// Background traffic across the outage: every answer must be a 200 or
	// the mode's 429, never an error or a 5xx (no crash, nothing lost).
	stop := make(chan struct{})
	var bad []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, path := range []string{"/open", "/tenant"} {
				status, _, err := httpGet(g.base+path, map[string]string{"x-tenant": "bg"})
				if err != nil || (status != 200 && status != 429) {
					bad = append(bad, fmt.Sprintf("%s: %d %v", path, status, err))
				}
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
		if len(bad) > 0 {
			t.Errorf("requests lost or failed across the outage: %v", bad)
		}
	}()
	time.Sleep(100 * time.Millisecond)
	g.redis.Stop()
	if got := statuses(t, g.base+"/tenant", 3, h); got != "429,429,429" {
		t.Errorf("Redis down, fail_closed: %s", got)
	}
	if got := statuses(t, g.base+"/open", 2, nil); got != "200,200" {
		t.Errorf("an unlimited route was refused: %s", got)
	}
	if v := g.ratelimit.metric(t, `tollgate_ratelimit_degraded{mode="fail_closed"}`); v != "1" {
		t.Errorf("degraded gauge: %q", v)
	}
	if !strings.Contains(g.ratelimit.log.String(), "entering degraded mode") {
		t.Error("entering degraded mode not logged")
	}
	g.redis.Restart()
	eventually(t, 10*time.Second, func() error {
		if got := statuses(t, g.base+"/tenant", 1, h); got != "200" {
			return fmt.Errorf("after restart: %s", got)
		}
		return nil
	})
	if v := g.ratelimit.metric(t, `tollgate_ratelimit_degraded{mode="fail_closed"}`); v != "0" {
		t.Errorf("degraded gauge after recovery: %q", v)
	}
	if !strings.Contains(g.ratelimit.log.String(), "recovered") {
		t.Error("recovery not logged")
	}
}
