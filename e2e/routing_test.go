package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
)

// gateway is one Tollgate and one Envoy serving a policy directory.
type gateway struct {
	dir      string
	base     string // http://127.0.0.1:PORT of the policy's listener
	tollgate *tollgate
	envoy    *envoy.Process
}

// startGateway writes the policy (with {{PORT}} replaced by a free port for
// the listener), starts Tollgate and an Envoy in group "default" with extra
// Envoy arguments, and waits until Envoy serves probePath from
// probeService ("" for any).
func startGateway(t *testing.T, files map[string]string, delta bool, probePath, probeService string, envoyArgs ...string) *gateway {
	t.Helper()
	requireEnvoy(t)
	addr := freeAddr(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	for name, content := range files {
		files[name] = strings.ReplaceAll(content, "{{PORT}}", port)
	}
	g := &gateway{dir: policyDir(t, files), base: "http://" + addr}
	g.tollgate = startTollgate(t, g.dir, "")
	g.envoy = startEnvoy(t, g.tollgate.grpcAddr, "default", delta, envoyArgs...)
	waitService(t, g.base+probePath, nil, probeService)
	return g
}

// servicesYAML declares one service per name, each with one demo instance.
func servicesYAML(t *testing.T, names ...string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %s: { endpoints: [%s] }\n", name, upstream(t, name, 1, nil)[0])
	}
	return b.String()
}

const listenerYAML = "listeners:\n  - { name: public, address: 127.0.0.1, port: {{PORT}} }\n"

func TestEveryMatcherRoutesToItsService(t *testing.T) {
	t.Parallel()
	routes := `
routes:
  - { name: exact, match: { path: /exact }, to: exact }
  - { name: regex, match: { path_regex: "^/items/[0-9]+$" }, to: regex }
  # Beyond Envoy's default RE2 program size (100): the bootstrap raises it.
  - { name: long-regex, match: { path_regex: "^/long/[a-z]{120}$" }, to: long-regex }
  - { name: host, match: { path_prefix: /h, hosts: [api.example.com] }, to: host }
  - { name: method, match: { path_prefix: /m, methods: [POST, PUT] }, to: method }
  - { name: header-exact, match: { path_prefix: /hdr, headers: [{ name: x-tenant, exact: acme }] }, to: header-exact }
  - { name: header-regex, match: { path_prefix: /hdr, headers: [{ name: x-version, regex: "^v[12]$" }] }, to: header-regex }
  - { name: header-present, match: { path_prefix: /hdr, headers: [{ name: x-debug, present: true }] }, to: header-present }
  - { name: query-exact, match: { path_prefix: /q, query: [{ name: mode, exact: fast }] }, to: query-exact }
  - { name: query-regex, match: { path_prefix: /q, query: [{ name: id, regex: "^[0-9]+$" }] }, to: query-regex }
  - { name: query-present, match: { path_prefix: /q, query: [{ name: debug, present: true }] }, to: query-present }
  - { name: prefix, match: { path_prefix: /api }, to: prefix }
`
	g := startGateway(t, map[string]string{
		"10-listeners.yaml": listenerYAML,
		"20-services.yaml": servicesYAML(t, "exact", "regex", "long-regex", "host", "method", "header-exact", "header-regex",
			"header-present", "query-exact", "query-regex", "query-present", "prefix"),
		"30-routes.yaml": routes,
	}, false, "/api/probe", "prefix")

	cases := []struct {
		method, path string
		headers      map[string]string
		want         string // service, or "404"
	}{
		{"GET", "/exact", nil, "exact"},
		{"GET", "/exact/more", nil, "404"},
		{"GET", "/items/42", nil, "regex"},
		{"GET", "/items/abc", nil, "404"},
		{"GET", "/long/" + strings.Repeat("a", 120), nil, "long-regex"},
		{"GET", "/long/" + strings.Repeat("a", 119), nil, "404"},
		{"GET", "/h", map[string]string{"Host": "api.example.com"}, "host"},
		{"GET", "/h", map[string]string{"Host": "other.example.com"}, "404"},
		{"POST", "/m", nil, "method"},
		{"PUT", "/m", nil, "method"},
		{"GET", "/m", nil, "404"},
		{"GET", "/hdr", map[string]string{"x-tenant": "acme"}, "header-exact"},
		{"GET", "/hdr", map[string]string{"x-tenant": "other"}, "404"},
		{"GET", "/hdr", map[string]string{"x-version": "v2"}, "header-regex"},
		{"GET", "/hdr", map[string]string{"x-version": "v3"}, "404"},
		{"GET", "/hdr", map[string]string{"x-debug": "anything"}, "header-present"},
		{"GET", "/hdr", map[string]string{"x-tenant": "acme", "x-debug": "1"}, "header-exact"}, // first match wins
		{"GET", "/q?mode=fast", nil, "query-exact"},
		{"GET", "/q?mode=slow", nil, "404"},
		{"GET", "/q?id=123", nil, "query-regex"},
		{"GET", "/q?id=abc", nil, "404"},
		{"GET", "/q?debug", nil, "query-present"},
		{"GET", "/api/anything", nil, "prefix"},
		{"GET", "/nothing", nil, "404"},
	}
	for _, tc := range cases {
		status, r := call(tc.method, g.base+tc.path, tc.headers)
		got := r.Service
		if status != 200 {
			got = fmt.Sprint(status)
		}
		if got != tc.want {
			t.Errorf("%s %s %v: got %s, want %s", tc.method, tc.path, tc.headers, got, tc.want)
		}
	}
}

func TestWeightedSplitNinetyTen(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{
		"listeners.yaml": listenerYAML,
		"services.yaml":  servicesYAML(t, "stable", "canary"),
		"routes.yaml":    "routes:\n  - { name: split, to: [{ service: stable, weight: 90 }, { service: canary, weight: 10 }] }\n",
	}, false, "/", "")
	const n = 1000
	counts := map[string]int{}
	for range n {
		status, r := call("GET", g.base+"/split", nil)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		counts[r.Service]++
	}
	// The canary count is binomial(1000, 0.1): mean 100, standard deviation
	// 9.5. Accepting 60..140 (±4.2σ) fails a correct split about once in
	// 40,000 runs, and catches a split off by more than 4 points.
	canary := counts["canary"]
	t.Logf("canary share: %d/%d (stable %d)", canary, n, counts["stable"])
	if canary < 60 || canary > 140 || canary+counts["stable"] != n {
		t.Errorf("canary got %d of %d requests, want 100±40: %v", canary, n, counts)
	}
}

func TestLeastRequestAvoidsTheSlowEndpoint(t *testing.T) {
	slow := func(i int, h http.Handler) http.Handler {
		if i != 0 {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
			h.ServeHTTP(w, r)
		})
	}
	addrs := upstream(t, "lr", 3, slow)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  lr: { endpoints: [%s], load_balancing: least_request }
routes:
  - { name: lr, to: lr }
`, strings.Join(addrs, ", ")),
	}, false, "/", "lr")

	const n = 240
	counts := concurrentCalls(t, g.base+"/lr", n, 8, nil)
	// Round robin would give the slow endpoint a third (80 of 240, σ≈7.3).
	// Least request compares two random endpoints' active requests; the
	// slow one always has some, so it only wins when both picks are
	// itself: about 1/9, ~27 of 240 (σ≈4.9). The bound of 25% (60) is
	// 2.7σ below round robin and 6σ above least request.
	slowShare := float64(counts[addrs[0]]) / n
	t.Logf("least_request: slow endpoint got %.0f%% (%v)", slowShare*100, counts)
	if slowShare >= 0.25 {
		t.Errorf("slow endpoint got %.0f%% of requests, want < 25%% (round robin would give 33%%)", slowShare*100)
	}
}

// concurrentCalls sends n GETs from workers goroutines and counts replies by
// instance.
func concurrentCalls(t *testing.T, url string, n, workers int, headers map[string]string) map[string]int {
	t.Helper()
	var mu sync.Mutex
	counts := map[string]int{}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				status, r := call("GET", url, headers)
				mu.Lock()
				if status == 200 {
					counts[r.Instance]++
				} else {
					counts[fmt.Sprint("status ", status)]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return counts
}

func TestRingHashKeepsAClientOnOneEndpoint(t *testing.T) {
	t.Parallel()
	addrs := upstream(t, "sticky", 2, nil)
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + fmt.Sprintf(`
services:
  sticky: { endpoints: [%s], load_balancing: ring_hash, hash_on: { header: x-user-id } }
routes:
  - { name: sticky, to: sticky }
`, strings.Join(addrs, ", ")),
	}, false, "/", "sticky")

	perInstance := map[string]int{}
	for u := range 20 {
		user := fmt.Sprintf("user-%d", u)
		first := ""
		for range 5 {
			status, r := call("GET", g.base+"/profile", map[string]string{"x-user-id": user})
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if first == "" {
				first = r.Instance
				perInstance[first]++
			} else if r.Instance != first {
				t.Errorf("%s moved from %s to %s", user, first, r.Instance)
			}
		}
	}
	// 20 users on two endpoints all landing on one would happen with
	// probability 2^-19 if hashing spread them: it would mean no hashing.
	if len(perInstance) != 2 {
		t.Errorf("users spread over %d endpoint(s), want 2: %v", len(perInstance), perInstance)
	}
	t.Logf("ring_hash: users per endpoint %v", perInstance)
}
