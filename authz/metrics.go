package authz

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/metric"
)

// metrics are the authorization service's Prometheus metrics. Labels are
// bounded: results, reasons from a fixed list, issuers from the policy.
// No metric ever carries a key, a token or a subject.
type metrics struct {
	decisions   *prometheus.CounterVec
	latency     prometheus.Histogram
	fetches     *prometheus.CounterVec
	lastFetch   *prometheus.GaugeVec
	stale       *prometheus.GaugeVec
	keysLoaded  prometheus.Gauge
	usageErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := metric.With(reg)
	return &metrics{
		decisions:   f.CounterVec("tollgate_authz_decisions_total", "Authorization decisions by result (allow, deny) and reason.", "result", "reason"),
		latency:     f.Histogram("tollgate_authz_check_duration_seconds", "Time to decide one ext_authz Check, inside Tollgate.", []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3}),
		fetches:     f.CounterVec("tollgate_authz_jwks_fetches_total", "JWKS fetches by issuer and result (ok, error).", "issuer", "result"),
		lastFetch:   f.GaugeVec("tollgate_authz_jwks_last_success_timestamp_seconds", "When each issuer's JWKS was last fetched successfully.", "issuer"),
		stale:       f.GaugeVec("tollgate_authz_jwks_stale", "1 while an issuer's JWKS has failed for longer than max_stale (alert on it).", "issuer"),
		keysLoaded:  f.Gauge("tollgate_authz_api_keys", "API keys in the serving keys file."),
		usageErrors: f.Counter("tollgate_authz_key_usage_flush_errors_total", "Failed writes of the API keys' last-used times."),
	}
}

func (m *metrics) decision(d *Decision) {
	result := "deny"
	if d.Allowed() {
		result = "allow"
	}
	m.decisions.WithLabelValues(result, d.Reason).Inc()
}

func (m *metrics) jwksFetch(issuer, result string) { m.fetches.WithLabelValues(issuer, result).Inc() }

func (m *metrics) jwksFetched(issuer string) { m.lastFetch.WithLabelValues(issuer).SetToCurrentTime() }

func (m *metrics) jwksStale(issuer string, stale bool) {
	v := 0.0
	if stale {
		v = 1
	}
	m.stale.WithLabelValues(issuer).Set(v)
}
