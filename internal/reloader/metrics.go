package reloader

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/metric"
)

// Reasons a reload is rejected, the values of the reason label: bounded,
// so that a stream of bad edits never grows the metric.
const (
	reasonInvalid   = "invalid"   // the policy does not load (file:line:col errors)
	reasonComponent = "component" // a component (xDS, authz, rate limiting) refused to compile it
	// policy.GuardNoListeners and policy.GuardRoutesRemoved: the reload
	// guard refused a valid but destructive generation.
)

var rejectReasons = []string{reasonInvalid, reasonComponent, "no_listeners", "routes_removed"}

// metrics are what the reloader tells Prometheus about generations.
type metrics struct {
	reloads    *prometheus.CounterVec
	rejections *prometheus.CounterVec
	lastResult prometheus.Gauge
	lastReload prometheus.Gauge
	listeners  prometheus.Gauge
	routes     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := metric.With(reg)
	m := &metrics{
		reloads:    f.CounterVec("tollgate_policy_reloads_total", "Policy loads by result: applied, unchanged or rejected.", "result"),
		rejections: f.CounterVec("tollgate_policy_reload_rejections_total", "Rejected policy loads by reason: invalid, component, no_listeners or routes_removed.", "reason"),
		lastResult: f.Gauge("tollgate_policy_last_reload_successful", "1 if the last policy load was applied, 0 if it was rejected and an older policy is serving."),
		lastReload: f.Gauge("tollgate_policy_last_applied_timestamp_seconds", "When the serving policy generation was applied."),
		listeners:  f.Gauge("tollgate_policy_serving_listeners", "Listeners of the serving policy generation (0 when none is serving)."),
		routes:     f.Gauge("tollgate_policy_serving_routes", "Routes of the serving policy generation (0 when none is serving)."),
	}
	for _, result := range []string{"applied", "unchanged", "rejected"} {
		m.reloads.WithLabelValues(result)
	}
	for _, reason := range rejectReasons {
		m.rejections.WithLabelValues(reason)
	}
	return m
}
