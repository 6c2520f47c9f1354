package preflight

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// Defaults of the live items.
const (
	// DefaultMinSamples is how many requests a service needs in the stats
	// before its p99 and error rate mean anything.
	DefaultMinSamples = 100
	// maxOutlierTripRate: outlier detection that a healthy endpoint trips
	// once in a thousand requests ejects it all day long.
	maxOutlierTripRate = 1e-3
)

// LiveOptions says where the running gateway and its stats are. Every
// field may be empty; an item without what it needs is n/a.
type LiveOptions struct {
	// Gateway is the URL requests are sent to.
	Gateway string
	// EnvoyAdmin is Envoy's admin URL; its /stats/prometheus is read.
	EnvoyAdmin string
	// Prometheus is any Prometheus text-format scrape URL.
	Prometheus string
	// Path is the path of the test request and the load test.
	Path string
	// MinSamples: see DefaultMinSamples.
	MinSamples int
	// Load is the load test's rate; a zero Count means no load test.
	Load policy.Rate
	// Duration is how long the load test runs.
	Duration time.Duration
	// Client sends every request; nil means a client with a 10s timeout.
	Client *http.Client
}

func (o LiveOptions) statsURLs() []string {
	var out []string
	if o.EnvoyAdmin != "" {
		out = append(out, strings.TrimSuffix(o.EnvoyAdmin, "/")+"/stats/prometheus")
	}
	if o.Prometheus != "" {
		out = append(out, o.Prometheus)
	}
	return out
}

// Live runs the items that need a running gateway, in checklist order.
func Live(p *policy.Policy, o LiveOptions) []Result {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.MinSamples < 1 {
		o.MinSamples = DefaultMinSamples
	}
	ctx := context.Background()
	var m Metrics
	var scrapeErr error
	if urls := o.statsURLs(); len(urls) > 0 {
		m, scrapeErr = scrape(ctx, o.Client, urls)
	}
	return []Result{
		measured("live-timeouts", "route timeouts 2-3x their services' measured p99", m, scrapeErr, func() Result { return checkMeasuredTimeouts(p, m, o) }),
		measured("live-circuit-breakers", "circuit breakers and outlier detection against measured error rates", m, scrapeErr, func() Result { return checkMeasuredBreakers(p, m, o) }),
		checkTestRequest(ctx, p, o),
		checkLoad(ctx, p, o),
	}
}

// measured runs an item that reads stats, or says why it cannot.
func measured(id, title string, m Metrics, err error, run func() Result) Result {
	switch {
	case err != nil:
		return Result{ID: id, Title: title, Status: Fail, Findings: []Finding{{At: "--envoy-admin/--prometheus", Message: err.Error()}}}
	case m == nil:
		return notApplicable(id, title, "no stats: give --envoy-admin or --prometheus")
	}
	return run()
}

func cluster(name string) map[string]string { return map[string]string{"envoy_cluster_name": name} }

// p99 is the slowest 99th percentile, in ms, of the route's services that
// have enough requests measured; ok is false when none has.
func p99(r *policy.Route, m Metrics, minSamples int) (ms float64, ok bool) {
	for _, d := range r.To {
		buckets, n := m.Histogram("envoy_cluster_upstream_rq_time", cluster(d.Service))
		if n < float64(minSamples) {
			continue
		}
		if q := quantile(0.99, buckets, n); !math.IsNaN(q) && q >= ms {
			ms, ok = q, true
		}
	}
	return ms, ok
}

// checkMeasuredTimeouts holds each route's timeout against the measured
// p99 of its services (Envoy's upstream_rq_time histogram, estimated
// within its bucket as histogram_quantile does): under 2x, a request a
// little slower than usual is cut off; over 3x, a stuck service holds
// callers and connections far longer than it ever needs.
func checkMeasuredTimeouts(p *policy.Policy, m Metrics, o LiveOptions) Result {
	const id, title = "live-timeouts", "route timeouts 2-3x their services' measured p99"
	var f findings
	n := 0
	for _, r := range p.Routes {
		ms, ok := p99(r, m, o.MinSamples)
		if !forwards(r) || !ok {
			continue
		}
		n++
		timeout := p.RouteTimeout(r)
		pct := time.Duration(ms * float64(time.Millisecond)).Round(time.Millisecond)
		ratio := float64(timeout) / float64(time.Duration(ms*float64(time.Millisecond)))
		switch {
		case ratio < 2:
			f.add(timeoutPos(p, r), "route %s times out after %v, under 2x its services' measured p99 of %v: slow but healthy requests are cut off; raise it to %v-%v",
				r.Name, timeout, pct, 2*pct, 3*pct)
		case ratio > 3:
			f.add(timeoutPos(p, r), "route %s times out after %v, over 3x its services' measured p99 of %v: a stuck service holds callers that long; lower it to %v-%v",
				r.Name, timeout, pct, 2*pct, 3*pct)
		}
	}
	if n == 0 {
		return notApplicable(id, title, fmt.Sprintf("no service has %d requests in envoy_cluster_upstream_rq_time", o.MinSamples))
	}
	return f.result(id, title, fmt.Sprintf("routes with measured services: %d", n))
}

// checkMeasuredBreakers holds each service's circuit breaker and outlier
// detection against what the stats measured: a breaker that overflowed
// (requests refused with 503 for want of a slot) is set below the load
// the service sees; outlier detection that ejects after k consecutive
// 5xx, at a measured 5xx ratio r, trips on a healthy endpoint once every
// 1/r^k requests: more often than once in a thousand ejects healthy
// endpoints under normal load.
func checkMeasuredBreakers(p *policy.Policy, m Metrics, o LiveOptions) Result {
	const id, title = "live-circuit-breakers", "circuit breakers and outlier detection against measured error rates"
	var f findings
	var measured []string
	for _, name := range sortedNames(p.Services) {
		s := p.Services[name]
		total, _ := m.Sum("envoy_cluster_upstream_rq_total", cluster(name))
		if total < float64(o.MinSamples) {
			continue
		}
		errs, _ := m.Sum("envoy_cluster_upstream_rq_xx", map[string]string{"envoy_cluster_name": name, "envoy_response_code_class": "5"})
		rate := errs / total
		measured = append(measured, fmt.Sprintf("%s %.2f%% 5xx", name, 100*rate))
		pending, _ := m.Sum("envoy_cluster_upstream_rq_pending_overflow", cluster(name))
		conns, _ := m.Sum("envoy_cluster_upstream_cx_overflow", cluster(name))
		if pending+conns > 0 {
			f.add(s.At("circuit_breaker"), "service %s: the circuit breaker overflowed %.0f times (pending %.0f, connections %.0f) in %.0f requests: its limits are below the measured load; raise max_pending / max_connections",
				name, pending+conns, pending, conns, total)
		}
		if od := s.OutlierDetection; od != nil && od.Consecutive5xx > 0 && math.Pow(rate, float64(od.Consecutive5xx)) >= maxOutlierTripRate {
			f.add(od.At("consecutive_5xx"), "service %s: at the measured %.1f%% 5xx, %d in a row happen once every %.0f requests: healthy endpoints get ejected; raise consecutive_5xx or fix the errors",
				name, 100*rate, od.Consecutive5xx, 1/math.Pow(rate, float64(od.Consecutive5xx)))
		}
	}
	if len(measured) == 0 {
		return notApplicable(id, title, fmt.Sprintf("no service has %d requests in envoy_cluster_upstream_rq_total", o.MinSamples))
	}
	return f.result(id, title, strings.Join(measured, ", "))
}
