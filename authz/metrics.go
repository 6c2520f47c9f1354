package authz

import (
	"github.com/prometheus/client_golang/prometheus"
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
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_authz_decisions_total",
			Help: "Authorization decisions by result (allow, deny) and reason.",
		}, []string{"result", "reason"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_authz_check_duration_seconds",
			Help:    "Time to decide one ext_authz Check, inside Tollgate.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3},
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_authz_jwks_fetches_total",
			Help: "JWKS fetches by issuer and result (ok, error).",
		}, []string{"issuer", "result"}),
		lastFetch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_authz_jwks_last_success_timestamp_seconds",
			Help: "When each issuer's JWKS was last fetched successfully.",
		}, []string{"issuer"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_authz_jwks_stale",
			Help: "1 while an issuer's JWKS has failed for longer than max_stale (alert on it).",
		}, []string{"issuer"}),
		keysLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_authz_api_keys",
			Help: "API keys in the serving keys file.",
		}),
		usageErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_authz_key_usage_flush_errors_total",
			Help: "Failed writes of the API keys' last-used times.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.latency, m.fetches, m.lastFetch, m.stale, m.keysLoaded, m.usageErrors)
	}
	return m
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
