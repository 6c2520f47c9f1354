package ratelimiter

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/metric"
)

// Metrics are the rate limiter's Prometheus metrics.
type Metrics struct {
	decisions   *prometheus.CounterVec
	degraded    *prometheus.GaugeVec
	redisErrors prometheus.Counter
	redisTime   prometheus.Histogram
	// redisBatch is how many decisions each write to Redis carried.
	redisBatch prometheus.Histogram
	// invalidCalls counts calls refused unanswered, by reason.
	invalidCalls *prometheus.CounterVec

	// counters caches decisions' children by limit name, one per result:
	// looking a child up by labels hashes them on every call. The map is
	// copy-on-write behind the atomic pointer (a new limit name is rare;
	// a decision only loads), writers serialised by countersMu.
	counters   atomic.Pointer[map[string]*resultCounters]
	countersMu sync.Mutex
}

// result is a decision's result label, an index into resultCounters.
type result uint8

// The results, in resultLabels' order.
const (
	resultAdmitted result = iota
	resultRefused
	resultShadowRefused
	resultNotCharged
)

var resultLabels = [...]string{"admitted", "refused", "shadow_refused", "not_charged"}

type resultCounters [len(resultLabels)]prometheus.Counter

// The degraded-mode gauge's mode label values.
var degradedModes = []string{"fail_open", "fail_closed", "grace"}

// NewMetrics creates the metrics and registers them with reg (unless nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := metric.With(reg)
	m := &Metrics{
		decisions:    f.CounterVec("tollgate_ratelimit_decisions_total", "Rate-limit verdicts by limit and result: admitted, refused, shadow_refused, not_charged (another limit refused).", "limit", "result"),
		degraded:     f.GaugeVec("tollgate_ratelimit_degraded", "1 while Redis is unreachable and the named failure mode is answering; alert on it.", "mode"),
		redisErrors:  f.Counter("tollgate_ratelimit_redis_errors_total", "Redis calls that failed or missed their deadline."),
		redisTime:    f.Histogram("tollgate_ratelimit_redis_duration_seconds", "Time of one rate-limit decision's Redis round trip, with its wait for a pipelined write.", []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25}),
		redisBatch:   f.Histogram("tollgate_ratelimit_redis_batch_size", "Decisions sharing one pipelined write to a single Redis node (or Sentinel's master): 1 when idle, more under concurrency.", []float64{1, 2, 4, 8, 16, 32, 64}),
		invalidCalls: f.CounterVec("tollgate_ratelimit_invalid_calls_total", "Rate-limit calls refused with InvalidArgument, undecided, by reason: too_many_descriptors, too_many_entries. Envoy never sends such calls.", "reason"),
	}
	for _, mode := range degradedModes {
		m.degraded.WithLabelValues(mode)
	}
	for _, reason := range callSizeReasons {
		m.invalidCalls.WithLabelValues(reason)
	}
	return m
}

func (m *Metrics) decision(limit string, r result) {
	if p := m.counters.Load(); p != nil {
		if c := (*p)[limit]; c != nil && c[r] != nil {
			c[r].Inc()
			return
		}
	}
	m.counter(limit, r).Inc()
}

// counter adds a limit's counter for a result to the copy-on-write map.
// Children are created on first use, as WithLabelValues would, so that
// /metrics shows only the results a limit has had.
func (m *Metrics) counter(limit string, r result) prometheus.Counter {
	m.countersMu.Lock()
	defer m.countersMu.Unlock()
	var old map[string]*resultCounters
	if p := m.counters.Load(); p != nil {
		old = *p
	}
	if c := old[limit]; c != nil && c[r] != nil {
		return c[r]
	}
	// Published arrays are never written: copy, then swap in a new map.
	c := &resultCounters{}
	if prev := old[limit]; prev != nil {
		*c = *prev
	}
	c[r] = m.decisions.WithLabelValues(limit, resultLabels[r])
	next := make(map[string]*resultCounters, len(old)+1)
	maps.Copy(next, old)
	next[limit] = c
	m.counters.Store(&next)
	return c[r]
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
