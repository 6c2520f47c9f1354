package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

const faultPolicy = `
routes:
  - { name: health, match: { path: /health }, to: api }
  - { name: aborts, match: { path_prefix: /abort }, to: api, fault: { abort: { status: 503, percent: 25 } } }
  - { name: delays, match: { path_prefix: /delay }, to: api, fault: { delay: { duration: 5ms, percent: 50 } } }
  - name: game-day
    match: { path_prefix: /game }
    to: api
    fault: { abort: { status: 418 }, header: { name: x-game-day, exact: "on" } }
`

// TestFaultsAreInjectedAtTheirRateAndOnlyWhereThePolicySaysSo drives a real
// Envoy: aborts and delays at their configured share (delays counted by
// Envoy's fault stats, never timed), a header-triggered abort only with its
// header, and Envoy's own fault headers without effect.
func TestFaultsAreInjectedAtTheirRateAndOnlyWhereThePolicySaysSo(t *testing.T) {
	t.Parallel()
	files := map[string]string{"10-listeners.yaml": listenerYAML, "20-services.yaml": servicesYAML(t, "api"), "30-policy.yaml": faultPolicy}
	g := startGateway(t, files, false, "/health", "api")

	t.Run("aborts at 25%", func(t *testing.T) {
		const n = 400
		aborted := 0
		for range n {
			resp, body := mustRoundTrip(t, "GET", g.base+"/abort", nil, "")
			switch {
			case resp.StatusCode == 503 && resp.Header.Get("x-demo-service") == "" && string(body) == "fault filter abort":
				aborted++
			case resp.StatusCode != 200:
				t.Fatalf("status %d (service %q)", resp.StatusCode, resp.Header.Get("x-demo-service"))
			}
		}
		if tol := binomialTolerance(n, 0.25); aborted < n/4-tol || aborted > n/4+tol {
			t.Errorf("%d of %d requests aborted; want %d ± %d", aborted, n, n/4, tol)
		}
	})

	t.Run("delays at 50%", func(t *testing.T) {
		const n = 200
		before := faultStat(t, g, "delays_injected")
		for range n {
			if status, r := call("GET", g.base+"/delay", nil); status != 200 || r.Service != "api" {
				t.Fatalf("a delayed request must still reach the service: %d from %q", status, r.Service)
			}
		}
		delayed := faultStat(t, g, "delays_injected") - before
		if tol := binomialTolerance(n, 0.5); delayed < n/2-tol || delayed > n/2+tol {
			t.Errorf("Envoy delayed %d of %d requests; want %d ± %d", delayed, n, n/2, tol)
		}
	})

	t.Run("a header-triggered fault needs its header", func(t *testing.T) {
		for range 20 {
			if status, _ := call("GET", g.base+"/game", nil); status != 200 {
				t.Fatalf("without x-game-day: %d, want 200", status)
			}
			if status, _ := call("GET", g.base+"/game", map[string]string{"x-game-day": "off"}); status != 200 {
				t.Fatalf("x-game-day: off: %d, want 200", status)
			}
			if status, _ := call("GET", g.base+"/game", map[string]string{"x-game-day": "on"}); status != 418 {
				t.Fatalf("x-game-day: on: %d, want the injected 418", status)
			}
		}
	})

	t.Run("Envoy's fault headers do nothing", func(t *testing.T) {
		forged := map[string]string{"x-envoy-fault-abort-request": "500", "x-envoy-fault-abort-request-percentage": "100", "x-envoy-fault-delay-request": "100"}
		delays, aborts := faultStat(t, g, "delays_injected"), faultStat(t, g, "aborts_injected")
		for _, path := range []string{"/health", "/game"} {
			if status, _ := call("GET", g.base+path, forged); status != 200 {
				t.Errorf("%s with x-envoy-fault-* headers: %d, want 200", path, status)
			}
		}
		if d, a := faultStat(t, g, "delays_injected")-delays, faultStat(t, g, "aborts_injected")-aborts; d != 0 || a != 0 {
			t.Errorf("x-envoy-fault-* headers injected %d delays and %d aborts; want none", d, a)
		}
	})
}

// faultStat reads one of Envoy's fault filter counters of the listener.
func faultStat(t *testing.T, g *gateway, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stat := "http.public.fault." + name
	stats, err := g.envoy.Stats(ctx, "^"+strings.ReplaceAll(stat, ".", `\.`)+"$")
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(stats[stat])
	if err != nil {
		t.Fatalf("%s: %q: %v", stat, stats[stat], err)
	}
	return v
}
