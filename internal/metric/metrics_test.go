package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsAreRegisteredAsTheyAreMade(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := With(reg)
	f.Counter("t_counter_total", "c").Inc()
	f.CounterVec("t_by_total", "cv", "result").WithLabelValues("ok").Add(2)
	f.Gauge("t_gauge", "g").Set(3)
	f.GaugeVec("t_gauge_by", "gv", "mode").WithLabelValues("grace").Set(4)
	f.Histogram("t_seconds", "h", []float64{1}).Observe(0.5)
	f.HistogramVec("t_by_seconds", "hv", []float64{1}, "type").WithLabelValues("x").Observe(2)
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n != 6 {
		t.Fatalf("gathered %d metrics (%v), want 6", n, err)
	}
}

func TestNilRegistererMakesWorkingUnregisteredMetrics(t *testing.T) {
	c := With(nil).CounterVec("t_total", "c", "result")
	c.WithLabelValues("ok").Inc()
	if got := testutil.ToFloat64(c.WithLabelValues("ok")); got != 1 {
		t.Errorf("counter = %v, want 1", got)
	}
}

func TestANameRegisteredTwicePanics(t *testing.T) {
	f := With(prometheus.NewRegistry())
	f.Counter("t_total", "c")
	defer func() {
		if recover() == nil {
			t.Error("a second t_total on one registry did not panic")
		}
	}()
	f.Counter("t_total", "c")
}
