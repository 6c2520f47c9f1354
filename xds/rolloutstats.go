package xds

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	promclient "github.com/prometheus/client_model/go"
)

// A rollout watches each stage's 5xx ratio in the stats every Envoy
// streams to Tollgate: Envoy's metrics-service sink (the bootstrap
// `tollgate bootstrap` writes names it), over the gRPC connection Envoy
// already has for xDS. Scraping Prometheus instead would need Tollgate to
// know each Envoy's admin address, or a Prometheus server, neither of
// which it has; the sink reaches Tollgate wherever Envoy finds it, and
// says which Envoy it is (its node, in the stream's first message).
//
// Envoy sends every counter on each flush (every 5 s by default), as
// totals since it started; only the gateway's HTTP listeners' completed
// and 5xx downstream requests are kept.

// statSample is what one stats report of an Envoy said.
type statSample struct {
	at            time.Time
	fivexx, total uint64
}

// statsGrace is how long after connecting an Envoy that has sent no
// stats is waited for: three of Envoy's default flush intervals. After
// it, the Envoy is taken to stream none (a bootstrap without the sink),
// and a rollout does not wait on it.
const statsGrace = 15 * time.Second

// maxSamples bounds the reports kept per Envoy: a few minutes at Envoy's
// default flush interval, longer than any sensible hold's window needs.
const maxSamples = 64

// proxyStats keeps recent stats reports by node id.
type proxyStats struct {
	mu     sync.Mutex // guards both maps: reports arrive on their streams' goroutines
	byNode map[string][]statSample
	// streams counts each node's open stats streams, so that an Envoy's
	// reports outlive a stream it replaced (after a maximum connection age).
	streams map[string]int
}

func newProxyStats() *proxyStats {
	return &proxyStats{byNode: map[string][]statSample{}, streams: map[string]int{}}
}

// open counts a node's new stats stream.
func (ps *proxyStats) open(node string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.streams[node]++
}

// add records a report.
func (ps *proxyStats) add(node string, s statSample) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	samples := append(ps.byNode[node], s)
	if len(samples) > maxSamples {
		samples = samples[len(samples)-maxSamples:]
	}
	ps.byNode[node] = samples
}

// close drops an Envoy's reports when its last stats stream ends.
func (ps *proxyStats) close(node string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.streams[node]--; ps.streams[node] <= 0 {
		delete(ps.streams, node)
		delete(ps.byNode, node)
	}
}

// window sums, over the nodes, the requests and 5xx answers between each
// node's first report at or after from and its last report, and says
// whether every node that reports stats (or, per awaited, may yet) has a
// report after that first one and at or after until: the window then
// covers the hold. Requests before the first report after from are not
// counted: they may have been served by the previous generation.
func (ps *proxyStats) window(nodes []string, from, until time.Time, awaited func(node string) bool) (ratio float64, requests uint64, covered bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var fivexx uint64
	covered = true
	for _, n := range nodes {
		samples := ps.byNode[n]
		if len(samples) == 0 {
			covered = covered && !awaited(n)
			continue
		}
		first := -1
		for i, s := range samples {
			if !s.at.Before(from) {
				first = i
				break
			}
		}
		last := samples[len(samples)-1]
		if first < 0 || first == len(samples)-1 || last.at.Before(until) {
			covered = false
		}
		if first < 0 {
			continue
		}
		base := samples[first]
		if last.total < base.total || last.fivexx < base.fivexx {
			continue // counters reset: Envoy restarted
		}
		requests += last.total - base.total
		fivexx += last.fivexx - base.fivexx
	}
	if requests > 0 {
		ratio = float64(fivexx) / float64(requests)
	}
	return ratio, requests, covered
}

// statSink is the metrics service Envoy's metrics-service sink streams to.
type statSink struct {
	metricsv3.UnimplementedMetricsServiceServer
	stats *proxyStats
}

var _ metricsv3.MetricsServiceServer = statSink{}

// StreamMetrics reads one Envoy's stats reports until it closes the stream.
func (k statSink) StreamMetrics(stream metricsv3.MetricsService_StreamMetricsServer) error {
	node := ""
	defer func() {
		if node != "" {
			k.stats.close(node)
		}
	}()
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&metricsv3.StreamMetricsResponse{})
		}
		if err != nil {
			return err
		}
		if id := msg.GetIdentifier().GetNode().GetId(); id != "" && node == "" {
			node = id // Envoy names itself in its first message only
			k.stats.open(node)
		}
		if node != "" {
			k.stats.add(node, downstreamRequests(msg.GetEnvoyMetrics()))
		}
	}
}

// downstreamRequests sums the completed and 5xx downstream requests of
// the gateway's HTTP connection managers (http.<listener>.…), leaving out
// Envoy's admin interface.
func downstreamRequests(families []*promclient.MetricFamily) statSample {
	s := statSample{at: time.Now()}
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "http.") || strings.HasPrefix(name, "http.admin.") || len(f.GetMetric()) == 0 {
			continue
		}
		v := uint64(f.GetMetric()[0].GetCounter().GetValue())
		switch {
		case strings.HasSuffix(name, ".downstream_rq_5xx"):
			s.fivexx += v
		case strings.HasSuffix(name, ".downstream_rq_completed"):
			s.total += v
		}
	}
	return s
}
