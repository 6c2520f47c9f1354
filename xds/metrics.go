package xds

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the control plane's Prometheus metrics.
type metrics struct {
	connected         prometheus.Gauge
	pushes            *prometheus.CounterVec
	configInfo        *prometheus.GaugeVec
	nacks             *prometheus.CounterVec
	translationErrors prometheus.Counter
	pushLatency       *prometheus.HistogramVec
	rejecting         *prometheus.GaugeVec
	responses         *prometheus.CounterVec
}

// newMetrics creates the metrics and registers them with reg, if any. A
// registration failure (a second Server on one registry) is logged, not
// fatal: the server works without its metrics.
func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_xds_connected_proxies",
			Help: "Envoys (distinct node ids) with an open ADS stream.",
		}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_xds_pushes_total",
			Help: "Snapshots set in the xDS cache, by node group.",
		}, []string{"group"}),
		configInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_xds_config_info",
			Help: "Always 1, labelled with the version of the policy being served.",
		}, []string{"version"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_xds_nacks_total",
			Help: "Configurations Envoy rejected, by resource type URL.",
		}, []string{"type_url"}),
		translationErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_xds_translation_errors_total",
			Help: "Policies that could not be translated into Envoy configuration.",
		}),
		pushLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tollgate_xds_push_duration_seconds",
			Help:    "Time from pushing a new version of a resource type to a connected Envoy's ACK of it, by type URL.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type_url"}),
		rejecting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_xds_proxies_rejecting",
			Help: "Connected Envoys whose last configuration of a type (by type URL) was rejected and not accepted since.",
		}, []string{"type_url"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_xds_responses_total",
			Help: "Discovery responses sent to Envoys, by resource type URL.",
		}, []string{"type_url"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connected, m.pushes, m.configInfo, m.nacks, m.translationErrors, m.pushLatency, m.rejecting, m.responses} {
			if err := reg.Register(c); err != nil {
				log.Error("registering xds metric", "err", err)
			}
		}
	}
	return m
}

// setPolicyVersion makes version the only one tollgate_xds_config_info
// reports.
func (m *metrics) setPolicyVersion(version string) {
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(version).Set(1)
}
