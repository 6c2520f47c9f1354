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

	rolloutState   *prometheus.GaugeVec
	rolloutEvents  *prometheus.CounterVec
	rollbacks      *prometheus.CounterVec
	rolloutApplied prometheus.Gauge
	rollout5xx     prometheus.Gauge
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

		rolloutState:   f.GaugeVec("tollgate_rollout_state", "1 for the state the rollout of the newest generation is in (idle, rolling, complete, rolled_back), 0 for the others.", "state"),
		rolloutEvents:  f.CounterVec("tollgate_rollout_events_total", "Rollout steps: started, promoted, rolled_back, complete.", "event"),
		rollbacks:      f.CounterVec("tollgate_rollout_rollbacks_total", "Generations rolled back, by cause: nack or 5xx.", "cause"),
		rolloutApplied: f.Gauge("tollgate_rollout_applied_proxies", "Connected Envoys that applied the newest generation (of tollgate_xds_connected_proxies)."),
		rollout5xx:     f.Gauge("tollgate_rollout_stage_5xx_ratio", "5xx ratio of the stage being rolled out, since its hold began."),
	}
}

// setRolloutState makes state the one tollgate_rollout_state reports.
func (m *metrics) setRolloutState(state string) {
	for _, st := range []string{RolloutIdle, RolloutRolling, RolloutComplete, RolloutRolledBack} {
		v := 0.0
		if st == state {
			v = 1
		}
		m.rolloutState.WithLabelValues(st).Set(v)
	}
}

// setPolicyVersion makes version the only one tollgate_xds_config_info
// reports.
func (m *metrics) setPolicyVersion(version string) {
	m.configInfo.Reset()
	m.configInfo.WithLabelValues(version).Set(1)
}
