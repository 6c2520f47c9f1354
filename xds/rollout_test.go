package xds

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	promclient "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/internal/policytest"
)

// halfThenAll stages a generation on half the connected Envoys, then all.
const halfThenAll = `---
rollout:
  hold: 1h
  stages: [{ name: half, percent: 50 }, { name: all, percent: 100 }]
`

// TestRolloutPercentStageThenRollbackOnNACK: a percent stage gives the new
// generation to that share of the connected Envoys (the first by node id)
// and no other, in one node group; a NACK from one of them rolls it back,
// and every Envoy is served the previous generation again.
func TestRolloutPercentStageThenRollbackOnNACK(t *testing.T) {
	x := startServer(t)
	first := twoGroupPolicy(t, halfThenAll)
	if err := x.server.Update(first); err != nil {
		t.Fatal(err)
	}
	ids := []string{"e1", "e2", "e3", "e4"}
	streams := map[string]*sotwStream{}
	for _, id := range ids {
		s := x.sotw(t, id, "edge")
		s.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
		s.ack(s.recv())
		streams[id] = s
	}
	second := policytest.Load(t, strings.Replace(twoGroupYAML, "port: 8080", "port: 8081", 1)+halfThenAll)
	if err := x.server.Update(second); err != nil {
		t.Fatal(err)
	}
	rolledOut := make(chan struct{}, 1)
	x.server.WhenRolledOut(second.Version, func() { rolledOut <- struct{}{} })
	gens := func() map[string]string {
		out := map[string]string{}
		for _, p := range x.server.Proxies() {
			out[p.NodeID] = p.Generation
		}
		return out
	}
	want := map[string]string{"e1": second.Version, "e2": second.Version, "e3": first.Version, "e4": first.Version}
	if got := gens(); !maps.Equal(got, want) {
		t.Fatalf("generations %v, want the first half on the new one: %v", got, want)
	}
	r := x.server.Rollout()
	if r.State != RolloutRolling || r.Previous != first.Version || !slices.Equal(r.Stages[0].Proxies, []string{"e1", "e2"}) {
		t.Fatalf("rollout %+v, want rolling with e1 and e2 in the first stage", r)
	}
	streams["e2"].ack(streams["e2"].recv())
	streams["e3"].expectNone(100 * time.Millisecond)
	streams["e1"].nack(streams["e1"].recv(), "cannot bind")

	deadline := time.Now().Add(waitFor)
	for r = x.server.Rollout(); r.State != RolloutRolledBack; r = x.server.Rollout() {
		if time.Now().After(deadline) {
			t.Fatalf("no rollback after a NACK: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-rolledOut:
		t.Error("WhenRolledOut ran for a generation rolled back: it would be saved as the last good one")
	case <-time.After(100 * time.Millisecond):
	}
	if !strings.Contains(r.Reason, "e1 rejected Listener: cannot bind") || r.Stages[0].State != StageRolledBack {
		t.Errorf("rollback %+v, want e1's NACK as the reason", r)
	}
	for id, g := range gens() {
		if g != first.Version {
			t.Errorf("%s is served %s after the rollback, want %s", id, g, first.Version)
		}
	}
	if resp := streams["e2"].recv(); resp.GetVersionInfo() != x.snapshotOf(t, first, "edge").GetVersion(resourcev3.ListenerType) {
		t.Errorf("e2 got listeners %s after the rollback, want the previous ones", resp.GetVersionInfo())
	}
	if got := x.metric("tollgate_rollout_rollbacks_total", map[string]string{"cause": "nack"}); got != 1 {
		t.Errorf("tollgate_rollout_rollbacks_total{cause=nack} = %v, want 1", got)
	}
	// The rejected generation again (a reload that read it once more)
	// is not rolled out again.
	if err := x.server.Update(second); err != nil {
		t.Fatal(err)
	}
	if r := x.server.Rollout(); r.State != RolloutRolledBack || gens()["e1"] != first.Version {
		t.Errorf("the rejected generation again: rollout %+v, e1 on %s; want it still rolled back", r, gens()["e1"])
	}
}

// TestRolloutWithoutStagesServesEveryEnvoyAtOnce: the default, no
// rollout section, is today's behaviour.
func TestRolloutWithoutStagesServesEveryEnvoyAtOnce(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	a, b := x.sotw(t, "a", "edge"), x.sotw(t, "b", "edge")
	for _, s := range []*sotwStream{a, b} {
		s.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
		s.ack(s.recv())
	}
	next := policytest.Load(t, strings.Replace(twoGroupYAML, "port: 8080", "port: 8081", 1))
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	a.recv()
	b.recv()
	if r := x.server.Rollout(); r.State != RolloutComplete || r.Generation != next.Version || len(r.Stages) != 0 {
		t.Errorf("rollout %+v, want complete at once", r)
	}
	rolledOut := make(chan struct{})
	x.server.WhenRolledOut(next.Version, func() { close(rolledOut) })
	select {
	case <-rolledOut:
	case <-time.After(waitFor):
		t.Error("WhenRolledOut did not run for a generation every Envoy was given")
	}
}

// TestStatsWindowCountsOnlyWhatTheHoldCovers: the 5xx ratio is taken from
// each Envoy's first report after the hold began to its last; the window
// covers the hold once a later report is at or after its end.
func TestStatsWindowCountsOnlyWhatTheHoldCovers(t *testing.T) {
	ps := newProxyStats()
	t0 := time.Now()
	ps.add("a", statSample{at: t0.Add(-time.Second), fivexx: 50, total: 100}) // before the hold: not counted
	ps.add("a", statSample{at: t0.Add(time.Second), fivexx: 50, total: 100})
	never := func(string) bool { return false }
	if _, _, covered := ps.window([]string{"a"}, t0, t0.Add(2*time.Second), never); covered {
		t.Error("covered with one report in the hold")
	}
	ps.add("a", statSample{at: t0.Add(3 * time.Second), fivexx: 60, total: 140})
	ratio, n, covered := ps.window([]string{"a", "silent"}, t0, t0.Add(2*time.Second), never)
	if !covered || n != 40 || ratio != 0.25 {
		t.Errorf("window = %v over %d, covered %v; want 0.25 over 40, covered", ratio, n, covered)
	}
	if _, _, covered := ps.window([]string{"a", "silent"}, t0, t0.Add(2*time.Second), func(string) bool { return true }); covered {
		t.Error("covered while an Envoy that may yet report has not")
	}
}

// TestDownstreamRequestsReadsTheListenersCounters: of Envoy's stats, only
// the HTTP listeners' completed and 5xx requests count, not the admin's.
func TestDownstreamRequestsReadsTheListenersCounters(t *testing.T) {
	counter := func(name string, v float64) *promclient.MetricFamily {
		return &promclient.MetricFamily{Name: proto.String(name), Type: promclient.MetricType_COUNTER.Enum(),
			Metric: []*promclient.Metric{{Counter: &promclient.Counter{Value: proto.Float64(v)}}}}
	}
	msg := &metricsv3.StreamMetricsMessage{EnvoyMetrics: []*promclient.MetricFamily{
		counter("http.public.downstream_rq_5xx", 3), counter("http.public.downstream_rq_completed", 10),
		counter("http.other.downstream_rq_5xx", 1), counter("http.other.downstream_rq_completed", 10),
		counter("http.admin.downstream_rq_5xx", 100), counter("http.admin.downstream_rq_completed", 100),
		counter("cluster.api.upstream_rq_5xx", 100),
	}}
	if s := downstreamRequests(msg.GetEnvoyMetrics()); s.fivexx != 4 || s.total != 20 {
		t.Errorf("read %d 5xx of %d, want 4 of 20", s.fivexx, s.total)
	}
}

// TestStatsOutliveAReplacedStream: an Envoy that opens a new stats stream
// before its old one closes (a maximum connection age passed) keeps its
// reports; they go when its last stream closes.
func TestStatsOutliveAReplacedStream(t *testing.T) {
	ps := newProxyStats()
	ps.open("a")
	ps.add("a", statSample{at: time.Now(), total: 1})
	ps.open("a")
	ps.close("a")
	if len(ps.byNode["a"]) != 1 {
		t.Fatal("an Envoy's reports went with a stream it had replaced")
	}
	ps.close("a")
	if len(ps.byNode["a"]) != 0 {
		t.Fatal("an Envoy's reports outlived its last stream")
	}
}
