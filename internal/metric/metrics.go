// Package metric is how every Tollgate component makes its Prometheus
// metrics: each is created and registered in one call, the same way in
// xds, authz, ratelimiter, accesslog and the reloader.
//
// A nil registerer makes metrics that work but are exposed nowhere (unit
// tests, benchmarks, a component used without a server). Registering a
// name twice on one registerer panics, as prometheus.MustRegister does:
// it means two components of one kind share a registry, a wiring mistake
// that should stop `tollgate serve` at startup rather than leave a metric
// silently missing from /metrics.
package metric

import "github.com/prometheus/client_golang/prometheus"

// Factory makes metrics registered with one registerer.
type Factory struct {
	reg prometheus.Registerer
}

// With returns a Factory registering with reg; reg may be nil.
func With(reg prometheus.Registerer) Factory { return Factory{reg: reg} }

// Counter makes a counter.
func (f Factory) Counter(name, help string) prometheus.Counter {
	return register(f, prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help}))
}

// CounterVec makes a counter with labels.
func (f Factory) CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(f, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels))
}

// Gauge makes a gauge.
func (f Factory) Gauge(name, help string) prometheus.Gauge {
	return register(f, prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help}))
}

// GaugeVec makes a gauge with labels.
func (f Factory) GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(f, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels))
}

// Histogram makes a histogram with the given bucket upper bounds.
func (f Factory) Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return register(f, prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}))
}

// HistogramVec makes a histogram with labels.
func (f Factory) HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return register(f, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels))
}

func register[C prometheus.Collector](f Factory, c C) C {
	if f.reg != nil {
		f.reg.MustRegister(c)
	}
	return c
}
