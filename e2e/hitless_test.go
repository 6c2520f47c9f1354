package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
)

// hitlessGateway is `tollgate serve` (xds, authz and rate limiting in one
// process, memory store) and a real Envoy in front of one demo service,
// with the policy split into a fixed part and a routes file the tests
// rewrite.
type hitlessGateway struct {
	base  string
	dir   string
	api   string // the demo service's address
	envoy *envoy.Process
}

// hitlessBase is the part of the policy no edit touches: the listener, the
// service, the auth section and the limits routes may name.
const hitlessBase = `
listeners: [{ name: public, address: 127.0.0.1, port: {{PORT}} }]
services: { api: { endpoints: [{{API}}] } }
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
rate_limits:
  per-ip: { stage: before_auth, key: [client_ip], token_bucket: { rate: 1000/s } }
  per-client: { key: [client_id], fixed_window: { limit: 1000, window: 1s } }
`

// publicRoute is the route every test keeps and loads: untouched by every
// edit.
const publicRoute = "  - { name: public, match: { path_prefix: /public }, to: api, auth: { public: true } }\n"

// protectedRoute is the only protected (and limited) route of the small
// policies.
const protectedRoute = "  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] }, rate_limits: [per-ip, per-client] }\n"

// startHitlessGateway starts the gateway on hitlessBase and the given
// routes file, Envoy on state-of-the-world or delta xDS.
func startHitlessGateway(t testing.TB, routes string, delta bool) *hitlessGateway {
	t.Helper()
	requireEnvoy(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	g := &hitlessGateway{base: "http://" + addr, api: upstream(t, "api", 1, nil)[0]}
	base := strings.NewReplacer("{{PORT}}", port, "{{API}}", g.api).Replace(hitlessBase)
	g.dir = policyDir(t, map[string]string{"10-gateway.yaml": base, "20-routes.yaml": routes})
	tg := startTollgate(t, g.dir, "")
	g.envoy = startEnvoy(t, tg.grpcAddr, "default", delta)
	waitService(t, g.base+"/public", nil, "api")
	return g
}

// setRoutes replaces the routes file and waits until path answers want,
// which says Envoy routes by the new policy.
func (g *hitlessGateway) setRoutes(t testing.TB, routes, path string, want int) {
	t.Helper()
	writeFile(t, filepath.Join(g.dir, "20-routes.yaml"), routes)
	g.wait(t, path, want)
}

// wait waits until path answers want.
func (g *hitlessGateway) wait(t testing.TB, path string, want int) {
	t.Helper()
	eventually(t, 60*time.Second, func() error {
		if got, _ := call("GET", g.base+path, nil); got != want {
			return fmt.Errorf("GET %s: %d, want %d", path, got, want)
		}
		return nil
	})
}

// listenerModified is how many times Envoy replaced a listener.
func (g *hitlessGateway) listenerModified(t testing.TB) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := g.envoy.Stats(ctx, "listener_manager.listener_modified")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseInt(stats["listener_manager.listener_modified"], 10, 64)
	return n
}

// largeRoutes is a policy of n routes besides the public one, spread over
// services of their own (largeServices of them, at the api address):
// every third protected, every fifth limited before and after
// authentication. The variant changes every route's path and service and
// flips which are protected, as a swap to a reworked policy would,
// keeping the route names; the services are replaced (clusters removed
// and added).
func (g *hitlessGateway) largeRoutes(n int, variant string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for k := range largeServices {
		fmt.Fprintf(&b, "  svc-%s-%d: { endpoints: [%s] }\n", variant, k, g.api)
	}
	b.WriteString("routes:\n" + publicRoute)
	for i := range n {
		auth := "{ public: true }"
		if largeRouteProtected(i, variant) {
			auth = "{ accept: [api_key] }"
		}
		limits := ""
		if i%5 == 0 {
			limits = ", rate_limits: [per-ip, per-client]"
		}
		fmt.Fprintf(&b, "  - { name: gen-%d, match: { path: /%s/%d }, to: svc-%s-%d, auth: %s%s }\n", i, variant, i, variant, i%largeServices, auth, limits)
	}
	return b.String()
}

// largeServices is how many services a large policy's routes use.
const largeServices = 50

// largeRouteProtected says whether largeRoutes protects route i of a
// variant.
func largeRouteProtected(i int, variant string) bool { return (i%3 == 0) == (variant == "a") }

// largeRouteStatus is what route i of a variant answers a request without
// credentials.
func largeRouteStatus(i int, variant string) int {
	if largeRouteProtected(i, variant) {
		return http.StatusUnauthorized
	}
	return http.StatusOK
}

// load is steady traffic on one URL from a few keep-alive clients, one
// request after another each, recording every answer's status and
// latency under the current phase.
type load struct {
	url  string
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	phase string
	times map[string][]time.Duration
	bad   []string // non-2xx answers and transport errors
}

func startLoad(url string, workers int) *load {
	l := &load{url: url, stop: make(chan struct{}), phase: "steady", times: map[string][]time.Duration{}}
	for range workers {
		l.wg.Go(l.run)
	}
	return l
}

func (l *load) run() {
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		start := time.Now()
		resp, err := client.Get(l.url)
		var status int
		var body []byte
		if err == nil {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 200))
			_ = resp.Body.Close()
			status = resp.StatusCode
		}
		l.record(time.Since(start), status, body, err)
		time.Sleep(time.Millisecond) // a steady client, not a flood
	}
}

func (l *load) record(d time.Duration, status int, body []byte, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.times[l.phase] = append(l.times[l.phase], d)
	if err != nil || status/100 != 2 {
		l.bad = append(l.bad, fmt.Sprintf("[%s] %d %v %q", l.phase, status, err, body))
	}
}

// setPhase tags the answers recorded from now on.
func (l *load) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
}

// finish stops the traffic and returns the failures and the number of
// requests sent.
func (l *load) finish() ([]string, int) {
	close(l.stop)
	l.wg.Wait()
	n := 0
	for _, ts := range l.times {
		n += len(ts)
	}
	return l.bad, n
}

// percentile is the p-th percentile (0-100) of a phase's latencies.
func (l *load) percentile(phase string, p float64) time.Duration {
	ts := slices.Clone(l.times[phase])
	if len(ts) == 0 {
		return 0
	}
	slices.Sort(ts)
	return ts[min(len(ts)-1, int(float64(len(ts))*p/100))]
}

// TestEditsAreHitlessOnUntouchedRoutes keeps a public route under steady
// load through a real Envoy while the policy (a) loses its only protected
// and limited route, (b) gets one back, and (c) grows to 5,000 routes and
// is swapped for a reworked 5,000-route policy. The public route must
// answer every request 2xx, and Envoy must never replace its listener:
// these edits change routes only (RDS). Before the listener stopped
// depending on routes, (a) and (b) dropped and re-added the ext_authz and
// rate-limit filters, Envoy replaced and drained the listener, and
// requests in flight on the public route got 503s. Envoy runs state of
// the world and delta xDS.
func TestEditsAreHitlessOnUntouchedRoutes(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) { editsAreHitless(t, delta) })
	}
}

func editsAreHitless(t *testing.T, delta bool) {
	small := "routes:\n" + publicRoute
	g := startHitlessGateway(t, small+protectedRoute, delta)
	if got, _ := call("GET", g.base+"/orders", nil); got != http.StatusUnauthorized {
		t.Fatalf("protected route without a key: %d, want 401", got)
	}
	modified := g.listenerModified(t)
	l := startLoad(g.base+"/public", 4)
	time.Sleep(300 * time.Millisecond) // some traffic before the first edit

	l.setPhase("remove the only protected route")
	g.setRoutes(t, small, "/orders", http.StatusNotFound)
	l.setPhase("add a protected route")
	g.setRoutes(t, small+protectedRoute, "/orders", http.StatusUnauthorized)
	l.setPhase("grow to 5,000 routes")
	g.setRoutes(t, g.largeRoutes(5000, "a"), "/a/4999", largeRouteStatus(4999, "a"))
	l.setPhase("swap the 5,000 routes")
	g.setRoutes(t, g.largeRoutes(5000, "b"), "/b/4999", largeRouteStatus(4999, "b"))
	time.Sleep(300 * time.Millisecond) // traffic after the last edit settled

	bad, n := l.finish()
	t.Logf("%d requests on the untouched route; %d failed", n, len(bad))
	if len(bad) > 0 {
		t.Errorf("%d of %d requests on the untouched route failed, first ones: %v", len(bad), n, bad[:min(len(bad), 10)])
	}
	if n < 100 {
		t.Errorf("only %d requests were sent: the load did not run", n)
	}
	if got := g.listenerModified(t); got != modified {
		t.Errorf("Envoy replaced a listener %d times during route, auth and limit edits; want none", got-modified)
	}
}
