package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/testenv"
	"github.com/tollgate/tollgate/xds"
)

const (
	listenerTypeURL = "type.googleapis.com/envoy.config.listener.v3.Listener"
	routeTypeURL    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// TestListenerOnABusyPortSettlesAndComesUpWhenThePortFrees: Envoy cannot
// bind a listener whose port another process holds, and rejects it. Before
// the fix Tollgate and Envoy then looped on route configuration (~6,000
// "Ignoring unwatched type URL" a second, both busy, forever), and the
// listener stayed down after the port was freed until the policy changed.
// Now the rejection is stable (a bounded number of responses), logged
// once, shown in /debug/proxies and the metrics, and re-offered with
// backoff, so the listener comes up once the port frees, with no edit.
func TestListenerOnABusyPortSettlesAndComesUpWhenThePortFrees(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name  string
		delta bool
	}{{"sotw", false}, {"delta", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testBusyPort(t, mode.delta)
		})
	}
}

func testBusyPort(t *testing.T, delta bool) {
	requireEnvoy(t)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy := held.Addr().String()
	other := freeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	dir := policyDir(t, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners:
  - { name: busy, address: 127.0.0.1, port: %s }
  - { name: other, address: 127.0.0.1, port: %s }
%s
routes:
  - { name: busy, listeners: [busy], to: busy-api }
  - { name: other, listeners: [other], to: other-api }
`, port(busy), port(other), servicesYAML(t, "busy-api", "other-api"))})
	tg := startTollgate(t, dir, "")
	e, envoyLog := startEnvoyWithLog(t, tg.grpcAddr, delta)

	// The other listener of the same update, and the clusters, are applied.
	waitService(t, "http://"+other+"/", nil, "other-api")
	rejected := waitRejection(t, tg, func(n *xds.NACK) bool { return n != nil })
	if !strings.Contains(rejected.Error, "Address already in use") || rejected.Version == "" {
		t.Errorf("rejected listeners = %+v, want Envoy's bind error and the version", rejected)
	}

	assertSettled(t, tg, envoyLog)

	// The port frees: the next re-offer brings the listener up, with no
	// policy edit.
	held.Close()
	eventually(t, 45*time.Second, func() error {
		if status, r := call("GET", "http://"+busy+"/", nil); status != 200 || r.Service != "busy-api" {
			return fmt.Errorf("GET %s: %d from %q", busy, status, r.Service)
		}
		return nil
	})
	waitRejection(t, tg, func(n *xds.NACK) bool { return n == nil })
	if got := tg.metric(t, `tollgate_xds_proxies_rejecting{type_url="`+listenerTypeURL+`"}`); got != "0" {
		t.Errorf("tollgate_xds_proxies_rejecting for listeners = %q after recovery, want 0", got)
	}
	waitService(t, "http://"+other+"/", nil, "other-api")
	if !strings.Contains(configDump(t, e), `"name": "busy"`) {
		t.Error("the busy listener is not in Envoy's config dump")
	}
}

// assertSettled checks that a rejection is stable: over a few seconds, a
// handful of re-offers, not a loop; logged once; in the metrics.
func assertSettled(t *testing.T, tg *tollgate, envoyLog *testenv.Buffer) {
	t.Helper()
	unwatched := func() int { return strings.Count(envoyLog.String(), "Ignoring unwatched type URL") }
	responses := func() float64 {
		_, body, err := httpGet(tg.adminURL("/metrics"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return promSample(string(body), "tollgate_xds_responses_total", map[string]string{"type_url": listenerTypeURL}) +
			promSample(string(body), "tollgate_xds_responses_total", map[string]string{"type_url": routeTypeURL})
	}
	unwatched0, responses0 := unwatched(), responses()
	time.Sleep(3 * time.Second)
	// Backoff 1 s, 2 s, 4 s...: at most 3 re-offers of the listeners in
	// the window, each maybe with one route response Envoy no longer
	// wants. The loop sent ~18,000 in the same window.
	if n := unwatched() - unwatched0; n > 6 {
		t.Errorf("Envoy ignored %d unwanted responses in 3s, want a handful at most", n)
	}
	if n := responses() - responses0; n < 0 || n > 8 {
		t.Errorf("Tollgate sent %v listener and route responses in 3s, want a handful at most", n)
	}
	if n := strings.Count(tg.log.String(), `msg="Envoy rejected configuration"`); n != 1 {
		t.Errorf("the rejection is logged %d times, want once", n)
	}
	if got := tg.metric(t, `tollgate_xds_proxies_rejecting{type_url="`+listenerTypeURL+`"}`); got != "1" {
		t.Errorf("tollgate_xds_proxies_rejecting for listeners = %q, want 1", got)
	}

}

// waitRejection waits until the only proxy's rejected listeners satisfy ok,
// and returns them.
func waitRejection(t *testing.T, tg *tollgate, ok func(*xds.NACK) bool) *xds.NACK {
	t.Helper()
	var got *xds.NACK
	eventually(t, 45*time.Second, func() error {
		_, body, err := httpGet(tg.adminURL("/debug/proxies"), nil)
		if err != nil {
			return err
		}
		var proxies []xds.ProxyStatus
		if err := json.Unmarshal(body, &proxies); err != nil || len(proxies) != 1 {
			return fmt.Errorf("/debug/proxies: %v %s", err, body)
		}
		got = nil
		if n, found := proxies[0].Rejected[listenerTypeURL]; found {
			got = &n
		}
		if !ok(got) {
			return fmt.Errorf("rejected listeners in /debug/proxies: %s", body)
		}
		return nil
	})
	return got
}

// startEnvoyWithLog is startEnvoy in the default group, also returning
// Envoy's log (at warn) to count its lines.
func startEnvoyWithLog(t *testing.T, xdsAddr string, delta bool) (*envoy.Process, *testenv.Buffer) {
	t.Helper()
	log := &testenv.Buffer{}
	p, err := envoy.Start(context.Background(), envoy.Config{
		Binary: requireEnvoy(t), XDSAddress: xdsAddr, Delta: delta, Stderr: log, LogLevel: "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("envoy %s log (last 8 KB):\n%s", p.NodeID(), lastBytes(log.String(), 8<<10))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitLive(ctx); err != nil {
		t.Fatalf("envoy not live: %v", err)
	}
	return p, log
}

// lastBytes is the end of s, at most n bytes of it.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
