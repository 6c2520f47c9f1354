package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// binomialTolerance is how far a count of n trials at probability p may
// stray from n*p in a statistical assertion: five standard deviations,
// which a correct gateway exceeds about once in 1.7 million runs.
func binomialTolerance(n int, p float64) int {
	return int(math.Ceil(5 * math.Sqrt(float64(n)*p*(1-p))))
}

// counting wraps the demo handler to count the requests it receives and
// remember the last Host it saw.
type counting struct {
	n    atomic.Int64
	mu   sync.Mutex
	host string
}

func (c *counting) wrap(_ int, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.n.Add(1)
		c.mu.Lock()
		c.host = r.Host
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

const mirrorPolicy = `
routes:
  - { name: health, match: { path: /health }, to: api }
  - name: mirrored
    match: { path_prefix: /m }
    to: api
    mirror: { service: shadow, percent: 50 }
    rate_limits: [cap]
rate_limits:
  cap: { key: [route], fixed_window: { limit: 300, window: 1h } }
`

// TestMirrorCopiesAShareOfAdmittedRequestsAndCountsThemOnce sends 400
// requests to a route mirrored at 50% with a limit of 300: exactly 300 are
// admitted (a copy counted against the limit would admit fewer), and the
// mirror receives about half of the admitted ones, never a refused one.
func TestMirrorCopiesAShareOfAdmittedRequestsAndCountsThemOnce(t *testing.T) {
	t.Parallel()
	shadow := &counting{}
	files := map[string]string{
		"10-listeners.yaml": listenerYAML,
		"20-services.yaml": servicesYAML(t, "api") +
			fmt.Sprintf("  shadow: { endpoints: [%s] }\n", upstream(t, "shadow", 1, shadow.wrap)[0]),
		"30-policy.yaml": mirrorPolicy,
	}
	g := startGateway(t, files, false, "/health", "api")

	const sent, limit = 400, 300
	codes := map[int]int{}
	for range sent {
		status, r := call("GET", g.base+"/m", nil)
		codes[status]++
		if status == 200 && r.Service != "api" {
			t.Fatalf("answered by %q, want api: the mirror's answer must be dropped", r.Service)
		}
	}
	if codes[200] != limit || codes[429] != sent-limit {
		t.Fatalf("statuses %v: want exactly %d admitted and %d refused", codes, limit, sent-limit)
	}

	// Envoy sends a copy while the original is in flight; wait until no copy
	// is pending or active, then every copy made has arrived.
	eventually(t, 15*time.Second, func() error { return mirrorSettled(g, shadow) })
	got, want, tol := int(shadow.n.Load()), limit/2, binomialTolerance(limit, 0.5)
	if got < want-tol || got > want+tol {
		t.Errorf("the mirror received %d copies of %d admitted requests at 50%%; want %d ± %d", got, limit, want, tol)
	}
	shadow.mu.Lock()
	defer shadow.mu.Unlock()
	if host, _, _ := strings.Cut(shadow.host, ":"); !strings.HasSuffix(host, "-shadow") {
		t.Errorf("a copy's Host is %q; Envoy marks copies with a -shadow suffix", shadow.host)
	}
}

// mirrorSettled reports whether every copy Envoy made of a request reached
// the shadow service.
func mirrorSettled(g *gateway, shadow *counting) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := g.envoy.Stats(ctx, `^cluster\.shadow\.upstream_rq_(total|active|pending_active)$`)
	if err != nil {
		return err
	}
	total, _ := strconv.ParseInt(stats["cluster.shadow.upstream_rq_total"], 10, 64)
	active := stats["cluster.shadow.upstream_rq_active"] + "/" + stats["cluster.shadow.upstream_rq_pending_active"]
	if active != "0/0" || total != shadow.n.Load() {
		return fmt.Errorf("mirror: %d sent by Envoy, %d received, active/pending %s", total, shadow.n.Load(), active)
	}
	return nil
}
