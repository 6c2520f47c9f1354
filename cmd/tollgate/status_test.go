package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/reloader"
	"github.com/tollgate/tollgate/ratelimiter"
	"github.com/tollgate/tollgate/xds"
)

const listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"

// A node id and a NACK error are written by Envoys (or whoever reaches the
// gRPC port), route names by policy authors: the page must show them as
// text.
const xss = `<script>alert(1)</script><img src=x onerror=alert(2)>`

// statusFixture serves a small policy and fakes the other sources: two
// proxies in two groups, one on the serving generation, one rejecting it.
func statusFixture(t *testing.T) (s *statusSources, serving, dir string) {
	t.Helper()
	dir = t.TempDir()
	policyYAML := `listeners:
  - { name: public, address: 127.0.0.1, port: 8080 }
services:
  orders: { endpoints: ["127.0.0.1:9001"] }
routes:
  - { name: orders, match: { path_prefix: /orders }, to: orders }
`
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	rl := reloader.New(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err := rl.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	serving = rl.Current().Policy.Version
	nackAt := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	s = &statusSources{reloader: rl, components: componentNames,
		proxies: func() []xds.ProxyStatus {
			nack := &xds.NACK{TypeURL: listenerType, Version: "abc123", Error: "bad listener " + xss, At: nackAt, Count: 3}
			return []xds.ProxyStatus{
				{NodeID: "edge-1", Group: "edge"},
				{NodeID: "internal-" + xss, Group: "internal", LastNACK: nack, Rejected: map[string]xds.NACK{listenerType: *nack}},
			}
		},
		applied: func() map[string]string { return map[string]string{"edge-1": serving, "internal-" + xss: ""} },
		denials: func() []authz.Denial {
			return []authz.Denial{{At: nackAt, Route: "orders", Status: 401, Reason: "missing_credentials", ClientIP: "127.0.0.1"}}
		},
		events: func() []ratelimiter.RecentEvent {
			return []ratelimiter.RecentEvent{{Limit: "per-ip", Count: 7, Last: nackAt, Route: "orders", ClientIP: "127.0.0.1"}}
		},
	}
	return s, serving, dir
}

func TestStatusModelJoinsProxiesWithTheirGeneration(t *testing.T) {
	s, serving, _ := statusFixture(t)
	st := s.status()
	if st.Generation.Version != serving || st.Generation.LoadedAt.IsZero() {
		t.Errorf("generation = %+v, want %s with its load time", st.Generation, serving)
	}
	if len(st.Proxies) != 2 {
		t.Fatalf("proxies = %+v, want two", st.Proxies)
	}
	edge, internal := st.Proxies[0], st.Proxies[1]
	if edge.Group != "edge" || edge.Generation != serving || edge.LastNACK != nil {
		t.Errorf("edge proxy = %+v, want group edge on %s", edge, serving)
	}
	if internal.Generation != "" || internal.LastNACK == nil || len(internal.Rejecting) != 1 || internal.Rejecting[0] != "Listener" {
		t.Errorf("internal proxy = %+v, want no generation, its NACK, rejecting Listener", internal)
	}
	want := []generationApplied{{Version: serving, Applied: 1, Proxies: 2}}
	if len(st.Generations) != 1 || st.Generations[0] != want[0] {
		t.Errorf("generations = %+v, want %+v", st.Generations, want)
	}
	if len(st.Routes) != 1 || len(st.Services) != 1 || len(st.Denials) != 1 || len(st.RateLimitEvents) != 1 {
		t.Errorf("routes %d, services %d, denials %d, events %d: want one each", len(st.Routes), len(st.Services), len(st.Denials), len(st.RateLimitEvents))
	}
	if st.Rollout != nil || len(st.Degraded) != 0 {
		t.Errorf("rollout %+v, degraded %+v: want none", st.Rollout, st.Degraded)
	}
}

// Degraded modes come from the same signals operators alert on: the rate
// limiter's gauge, each JWKS URL's health, a refused reload.
func TestStatusModelListsDegradedModes(t *testing.T) {
	s, _, _ := statusFixture(t)
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tollgate_ratelimit_degraded", Help: "h"}, []string{"mode"})
	reg.MustRegister(g)
	g.WithLabelValues("fail_open").Set(0)
	g.WithLabelValues("grace").Set(1)
	s.gatherer = reg
	s.jwks = func() []authz.JWKSStatus {
		return []authz.JWKSStatus{
			{Issuer: "https://ok.example", URI: "https://ok.example/jwks"},
			{Issuer: "https://idp.example", URI: "https://idp.example/jwks", Failing: true, Error: "connection refused"},
			{Issuer: "https://old.example", URI: "https://old.example/jwks", Failing: true, Stale: true, Error: "timeout"},
		}
	}
	var modes []string
	for _, d := range s.status().Degraded {
		modes = append(modes, d.Component+"/"+d.Mode)
		if d.Mode == "jwks_failing" && !strings.Contains(d.Detail, "connection refused") {
			t.Errorf("jwks_failing detail %q lacks the fetch error", d.Detail)
		}
	}
	if got, want := strings.Join(modes, " "), "ratelimit/grace authz/jwks_failing authz/jwks_stale"; got != want {
		t.Errorf("degraded = %s, want %s", got, want)
	}
}

// The rollout's state is read through its documented JSON, whatever Go
// type the rollout uses, with counts as numbers or lists.
func TestStatusModelReadsTheRolloutThroughItsJSON(t *testing.T) {
	s, _, _ := statusFixture(t)
	s.rollout = func() any {
		return map[string]any{
			"generation": "g2", "previous": "g1", "state": "rolled_back", "reason": "edge-1 NACKed", "since": "2026-11-30T01:00:00Z",
			"stages": []any{map[string]any{"name": "canary", "groups": []string{"edge"}, "percent": 0, "hold": "30s",
				"proxies": []string{"edge-1"}, "acked": []string{"edge-1"}, "state": "failed"}},
			"generations": []any{map[string]any{"version": "g1", "applied": 2, "proxies": 2}},
			"history":     []any{map[string]any{"at": "2026-11-30T01:00:00Z", "generation": "g2", "event": "rolled_back", "stage": "canary", "reason": "NACK"}},
		}
	}
	r := s.status().Rollout
	if r == nil || r.State != "rolled_back" || r.Previous != "g1" || len(r.Stages) != 1 || r.Stages[0].Acked != 1 ||
		r.Stages[0].Hold != "30s" || len(r.Generations) != 1 || r.Generations[0].Applied != 2 || len(r.History) != 1 {
		t.Errorf("rollout = %+v", r)
	}
	var out strings.Builder
	if err := writeStatus(&out, s.status()); err != nil {
		t.Fatal(err)
	}
	page := httptest.NewRecorder()
	renderStatusPage(page, s.status())
	for _, want := range []string{"rolled_back", "g1", "canary", "30s", "edge-1 NACKed"} {
		if !strings.Contains(out.String(), want) || !strings.Contains(page.Body.String(), want) {
			t.Errorf("%q missing from the table or the page:\n%s", want, out.String())
		}
	}
	if !strings.Contains(out.String(), "1 of 1") {
		t.Errorf("the stage's acked count is missing:\n%s", out.String())
	}
	s.rollout = func() any { return nil }
	if r := s.status().Rollout; r != nil {
		t.Errorf("no rollout: got %+v", r)
	}
}

func TestStatusPageShowsProxiesAndEscapesEverything(t *testing.T) {
	s, serving, dir := statusFixture(t)
	// A refused edit: its error quotes the bad route name.
	bad := "routes:\n  - { name: \"x" + strings.ReplaceAll(xss, `"`, `\"`) + "\", to: orders }\n"
	if err := os.WriteFile(filepath.Join(dir, "routes.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.reloader.Reload(context.Background()); err == nil {
		t.Fatal("the bad route name was accepted")
	}
	w := httptest.NewRecorder()
	renderStatusPage(w, s.status())
	page := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status page: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	for _, want := range []string{"edge-1", "internal-&lt;script&gt;", serving, "applied on <strong>1 of 2</strong> proxies",
		"bad listener &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;", "Listener abc123 at 01:02:03 UTC (3×)",
		"no staged rollout configured", "missing_credentials", "per-ip",
		"last reload refused: <code class=\"error\">", `routes[1].name: &#34;x&lt;script&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>alert", "<img src=x"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page carries %q unescaped", bad)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy = %q, want own scripts only", csp)
	}
}
