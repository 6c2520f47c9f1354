package xds

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/metric"
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

// newMetrics creates the metrics, registered with reg unless it is nil
// (internal/metric).
func newMetrics(reg prometheus.Registerer) *metrics {
	f := metric.With(reg)
	return &metrics{
		connected:         f.Gauge("tollgate_xds_connected_proxies", "Envoys (distinct node ids) with an open ADS stream."),
		pushes:            f.CounterVec("tollgate_xds_pushes_total", "Snapshots set in the xDS cache, by node group.", "group"),
		configInfo:        f.GaugeVec("tollgate_xds_config_info", "Always 1, labelled with the version of the policy being served.", "version"),
		nacks:             f.CounterVec("tollgate_xds_nacks_total", "Configurations Envoy rejected, by resource type URL.", "type_url"),
		translationErrors: f.Counter("tollgate_xds_translation_errors_total", "Policies that could not be translated into Envoy configuration."),
		pushLatency:       f.HistogramVec("tollgate_xds_push_duration_seconds", "Time from pushing a new version of a resource type to a connected Envoy's ACK of it, by type URL.", []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "type_url"),
		rejecting:         f.GaugeVec("tollgate_xds_proxies_rejecting", "Connected Envoys whose last configuration of a type (by type URL) was rejected and not accepted since.", "type_url"),
		responses:         f.CounterVec("tollgate_xds_responses_total", "Discovery responses sent to Envoys, by resource type URL.", "type_url"),
	}
}

// setPolicyVersion makes version the only one tollgate_xds_config_info
// reports.
func (m *metrics) setPolicyVersion(version string) {
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(version).Set(1)
}
