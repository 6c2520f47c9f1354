package ratelimiter

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the rate limiter's Prometheus metrics.
type Metrics struct {
	decisions   *prometheus.CounterVec
	degraded    *prometheus.GaugeVec
	redisErrors prometheus.Counter
	redisTime   prometheus.Histogram

	// counters caches decisions' children by limit and result: looking a
	// child up by labels hashes them on every call.
	counters sync.Map // string → prometheus.Counter
}

// The degraded-mode gauge's mode label values.
var degradedModes = []string{"fail_open", "fail_closed", "grace"}

// NewMetrics creates the metrics and registers them with reg (unless nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_ratelimit_decisions_total",
			Help: "Rate-limit verdicts by limit and result: admitted, refused, shadow_refused, not_charged (another limit refused).",
		}, []string{"limit", "result"}),
		degraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_ratelimit_degraded",
			Help: "1 while Redis is unreachable and the named failure mode is answering; alert on it.",
		}, []string{"mode"}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_ratelimit_redis_errors_total",
			Help: "Redis calls that failed or missed their deadline.",
		}),
		redisTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_ratelimit_redis_duration_seconds",
			Help:    "Time of one rate-limit decision's Redis round trip.",
			Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25},
		}),
	}
	for _, mode := range degradedModes {
		m.degraded.WithLabelValues(mode)
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.degraded, m.redisErrors, m.redisTime)
	}
	return m
}

func (m *Metrics) decision(limit, result string) {
	key := limit + "\x00" + result
	c, ok := m.counters.Load(key)
	if !ok {
		c, _ = m.counters.LoadOrStore(key, m.decisions.WithLabelValues(limit, result))
	}
	c.(prometheus.Counter).Inc()
}

// setDegraded marks mode (or none, for "") as the one answering.
func (m *Metrics) setDegraded(mode string) {
	for _, mm := range degradedModes {
		v := 0.0
		if mm == mode {
			v = 1
		}
		m.degraded.WithLabelValues(mm).Set(v)
	}
}
