package preflight

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// envoyStats is what Envoy's /stats/prometheus says about one service
// whose requests all took between 50 and 100ms, errs of them 5xx, and
// overflow refused by a full circuit breaker.
func envoyStats(service string, total, errs, overflow int) string {
	return strings.NewReplacer("SVC", service, "TOTAL", strconv.Itoa(total), "ERRS", strconv.Itoa(errs), "OVERFLOW", strconv.Itoa(overflow)).Replace(`# TYPE envoy_cluster_upstream_rq_total counter
envoy_cluster_upstream_rq_total{envoy_cluster_name="SVC"} TOTAL
# TYPE envoy_cluster_upstream_rq_xx counter
envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="SVC"} TOTAL
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="SVC"} ERRS
# TYPE envoy_cluster_upstream_rq_pending_overflow counter
envoy_cluster_upstream_rq_pending_overflow{envoy_cluster_name="SVC"} OVERFLOW
# TYPE envoy_cluster_upstream_rq_time histogram
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="SVC",le="25"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="SVC",le="50"} 0
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="SVC",le="100"} TOTAL
envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="SVC",le="+Inf"} TOTAL
envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="SVC"} 1
envoy_cluster_upstream_rq_time_count{envoy_cluster_name="SVC"} TOTAL
`)
}

// statsServer serves text as a Prometheus scrape on loopback.
func statsServer(t *testing.T, text string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(text))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const livePolicy = `listeners: [{ name: public, port: 8080 }]
services:
  api:
    endpoints: [127.0.0.1:9001]
    timeout: TIMEOUT
    circuit_breaker: { max_requests: 10 }
    outlier_detection: { consecutive_5xx: 2 }
routes:
  - { name: api, match: { path_prefix: / }, to: api }
`

// The p99 of requests between 50 and 100ms is 99.5ms (linear in the
// bucket, as histogram_quantile): 150ms is under 2x, 250ms within,
// 400ms over 3x.
func TestTimeoutAgainstMeasuredP99(t *testing.T) {
	url := statsServer(t, envoyStats("api", 1000, 0, 0))
	for _, c := range []struct {
		timeout string
		want    Status
		says    string
	}{
		{"150ms", Fail, "under 2x its services' measured p99 of 100ms"},
		{"250ms", Pass, ""},
		{"400ms", Fail, "over 3x"},
	} {
		p := loadCase(t, strings.Replace(livePolicy, "TIMEOUT", c.timeout, 1), scopedKeys, nil)
		r := byID(Live(p, LiveOptions{Prometheus: url, Path: "/"}), "live-timeouts")
		if r.Status != c.want || (c.says != "" && (len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, c.says) ||
			!strings.HasSuffix(r.Findings[0].At, "policy.yaml:5:14"))) {
			t.Errorf("timeout %s: %s %+v, want %s saying %q at policy.yaml:5:14", c.timeout, r.Status, r.Findings, c.want, c.says)
		}
	}
}

func TestBreakersAgainstMeasuredErrorRates(t *testing.T) {
	p := loadCase(t, strings.Replace(livePolicy, "TIMEOUT", "250ms", 1), scopedKeys, nil)
	for _, c := range []struct {
		name                  string
		total, errs, overflow int
		want                  Status
		at, says              string
	}{
		{"healthy", 1000, 0, 0, Pass, "", ""},
		// 2 in a row at 10% 5xx: once every 100 requests.
		{"outlier detection trips on normal errors", 1000, 100, 0, Fail, "policy.yaml:7:43", "2 in a row happen once every 100 requests"},
		{"breaker overflowed", 1000, 0, 3, Fail, "policy.yaml:6:22", "the circuit breaker overflowed 3 times"},
		{"too few requests", 50, 50, 50, NotApplicable, "", ""},
	} {
		url := statsServer(t, envoyStats("api", c.total, c.errs, c.overflow))
		r := byID(Live(p, LiveOptions{Prometheus: url, Path: "/"}), "live-circuit-breakers")
		if r.Status != c.want || (c.says != "" && (len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, c.says) ||
			!strings.HasSuffix(r.Findings[0].At, c.at))) {
			t.Errorf("%s: %s %+v, want %s saying %q at %s", c.name, r.Status, r.Findings, c.want, c.says, c.at)
		}
	}
}

func TestLiveItemsWithoutStatsDoNotApply(t *testing.T) {
	p := loadCase(t, strings.Replace(livePolicy, "TIMEOUT", "250ms", 1), scopedKeys, nil)
	for _, r := range Live(p, LiveOptions{Path: "/"}) {
		if r.Status != NotApplicable {
			t.Errorf("%s: %s, want n/a without flags", r.ID, r.Status)
		}
	}
}

func TestQuantileAsHistogramQuantile(t *testing.T) {
	b := []bucket{{1, 0}, {5, 50}, {10, 100}, {math.Inf(1), 100}}
	for q, want := range map[float64]float64{0.5: 5, 0.25: 3, 0.99: 9.9} {
		if got := quantile(q, b, 100); math.Abs(got-want) > 1e-9 {
			t.Errorf("q%v = %v, want %v", q, got, want)
		}
	}
	if got := quantile(0.99, []bucket{{10, 0}, {math.Inf(1), 10}}, 10); got != 10 {
		t.Errorf("in +Inf: %v, want the highest finite bound 10", got)
	}
}

// fakeGateway counts the requests it takes and serves the count as both
// Envoy's request counter and Tollgate's access-log counter, as a
// gateway whose log streams to Tollgate does.
func fakeGateway(t *testing.T) (gateway, stats string) {
	t.Helper()
	var n atomic.Int64
	gw := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) }))
	t.Cleanup(gw.Close)
	st := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE envoy_http_downstream_rq_total counter\nenvoy_http_downstream_rq_total{envoy_http_conn_manager_prefix=\"public\"} %d\n", n.Load())
		fmt.Fprintf(w, "# TYPE tollgate_accesslog_entries_total counter\ntollgate_accesslog_entries_total %d\n", n.Load())
	}))
	t.Cleanup(st.Close)
	return gw.URL, st.URL
}

func TestTestRequestReadsTheCounterOfItsAccessLog(t *testing.T) {
	gw, stats := fakeGateway(t)
	defer func(d time.Duration) { statsSettleTimeout = d }(statsSettleTimeout)
	statsSettleTimeout = time.Second
	for _, c := range []struct {
		accessLog string
		want      Status
		at, says  string
	}{
		{"access_log: { grpc: true }\n", Pass, "", ""},
		// The fake has no Envoy file-log counter: a file log is not seen.
		{"", Fail, "access_log (not written: /dev/stdout)", "envoy_filesystem_write_buffered did not move"},
		{"access_log: { disabled: true }\n", Fail, "policy.yaml:10:25", "the access log is disabled"},
	} {
		p := loadCase(t, strings.Replace(livePolicy, "TIMEOUT", "250ms", 1)+c.accessLog, scopedKeys, nil)
		r := checkTestRequest(context.Background(), p, LiveOptions{Gateway: gw, Prometheus: stats, Path: "/", Client: http.DefaultClient})
		if r.Status != c.want || (c.says != "" && (len(r.Findings) != 1 || !strings.Contains(r.Findings[0].Message, c.says) ||
			!strings.HasSuffix(r.Findings[0].At, c.at))) {
			t.Errorf("%q: %s %+v, want %s saying %q at %s", c.accessLog, r.Status, r.Findings, c.want, c.says, c.at)
		}
	}
}
