package xds

import (
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/internal/testenv"
)

// waitFor bounds every wait on the server.
const waitFor = 5 * time.Second

func TestServerServesEachGroupItsListeners(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}

	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	if got := resourceNames(t, edge.recv().GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("edge node got listeners %v, want [edge-http]", got)
	}

	internal := x.delta(t, "envoy-b", "internal")
	internal.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	var got []string
	for _, r := range internal.recv().GetResources() {
		got = append(got, r.GetName())
	}
	if !slices.Equal(got, []string{"internal-http"}) {
		t.Errorf("internal node got listeners %v, want [internal-http]", got)
	}

	anonymous := x.sotw(t, "envoy-c", "")
	anonymous.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	if got := resourceNames(t, anonymous.recv().GetResources()); len(got) != 0 {
		t.Errorf("node without a cluster (group %q) got listeners %v, want none", DefaultGroup, got)
	}

	want := map[string]string{"envoy-a": "edge", "envoy-b": "internal", "envoy-c": DefaultGroup}
	for _, p := range x.server.Proxies() {
		if want[p.NodeID] != p.Group {
			t.Errorf("proxy %s in group %q, want %q", p.NodeID, p.Group, want[p.NodeID])
		}
		delete(want, p.NodeID)
	}
	if len(want) != 0 {
		t.Errorf("proxies missing from Proxies(): %v", want)
	}
	if got := x.metric("tollgate_xds_connected_proxies", nil); got != 3 {
		t.Errorf("connected proxies = %v, want 3", got)
	}
}

func TestServerDiscoveredGroupWaitsForFirstPolicy(t *testing.T) {
	x := startServer(t)
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	edge.expectNone(200 * time.Millisecond)
	p := twoGroupPolicy(t)
	if err := x.server.Update(p); err != nil {
		t.Fatal(err)
	}
	if got := resourceNames(t, edge.recv().GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("edge node got listeners %v, want [edge-http]", got)
	}
	if got := x.metric("tollgate_xds_config_info", map[string]string{"version": p.Version}); got != 1 {
		t.Errorf("tollgate_xds_config_info{version=%s} = %v, want 1", p.Version, got)
	}
}

func TestServerUpdateResendsOnlyChangedTypes(t *testing.T) {
	x := startServer(t)
	p := twoGroupPolicy(t)
	if err := x.server.Update(p); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	before := edge.subscribeAll(map[string][]string{
		resourcev3.EndpointType: {"orders"},
		resourcev3.RouteType:    {"edge-http"},
	})

	next := twoGroupPolicy(t)
	next.Version = "v2"
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	resp := edge.recv()
	if resp.GetTypeUrl() != resourcev3.RouteType {
		t.Fatalf("after a route change got a %s response, want only routes", resp.GetTypeUrl())
	}
	if resp.GetVersionInfo() == before[resourcev3.RouteType] {
		t.Error("route version did not change")
	}
	edge.ack(resp)
	edge.expectNone(300 * time.Millisecond)

	acked := x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return p.Acked[resourcev3.RouteType] == resp.GetVersionInfo() }).Acked
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.EndpointType} {
		if acked[typ] != before[typ] {
			t.Errorf("%s: acked version %q, want it unchanged at %q", typ, acked[typ], before[typ])
		}
	}
	if got := x.metric("tollgate_xds_pushes_total", map[string]string{"group": "edge"}); got != 2 {
		t.Errorf("pushes for edge = %v, want 2", got)
	}
	// The same policy again changes nothing, so nothing is pushed.
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	if got := x.metric("tollgate_xds_pushes_total", map[string]string{"group": "edge"}); got != 2 {
		t.Errorf("pushes for edge after an identical update = %v, want 2", got)
	}
}

func TestServerNACKIsCountedAndShown(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}

	sotw := x.sotw(t, "envoy-a", "edge")
	sotw.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	resp := sotw.recv()
	sotw.nack(resp, "listener edge-http: bad filter")
	p := x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return p.LastNACK != nil })
	if n := p.LastNACK; n.TypeURL != resourcev3.ListenerType || n.Version != resp.GetVersionInfo() || !strings.Contains(n.Error, "bad filter") {
		t.Errorf("last NACK = %+v, want the listener version %s with its error", n, resp.GetVersionInfo())
	}

	delta := x.delta(t, "envoy-b", "internal")
	delta.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	dresp := delta.recv()
	delta.nack(dresp, "cluster ledger: bad")
	p = x.waitProxy(t, "envoy-b", func(p ProxyStatus) bool { return p.LastNACK != nil })
	if n := p.LastNACK; n.TypeURL != resourcev3.ClusterType || n.Version != dresp.GetSystemVersionInfo() {
		t.Errorf("last delta NACK = %+v, want the cluster version %s", n, dresp.GetSystemVersionInfo())
	}

	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType} {
		if got := x.metric("tollgate_xds_nacks_total", map[string]string{"type_url": typ}); got != 1 {
			t.Errorf("NACKs of %s = %v, want 1", typ, got)
		}
	}
	if log := x.logs.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "node=envoy-a") || !strings.Contains(log, "bad filter") {
		t.Errorf("NACK not logged at Warn with node and error:\n%s", log)
	}
}

func TestServerDeltaACKRecordsVersion(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	delta := x.delta(t, "envoy-b", "internal")
	delta.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	resp := delta.recv()
	delta.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: resp.GetNonce()})
	x.waitProxy(t, "envoy-b", func(p ProxyStatus) bool {
		return p.Acked[resourcev3.ClusterType] == resp.GetSystemVersionInfo() && p.LastNACK == nil
	})
}

func TestServerBadPolicyKeepsServingTheLastGoodOne(t *testing.T) {
	x := startServer(t)
	good := twoGroupPolicy(t)
	if err := x.server.Update(good); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	edge.ack(edge.recv())
	before := x.snapshot(t, "edge")

	bad := twoGroupPolicy(t)
	bad.Version = "v2"
	bad.Routes[0].To[0].Service = "missing"
	if err := x.server.Update(bad); err == nil || !strings.Contains(err.Error(), `unknown service "missing"`) {
		t.Fatalf("Update(bad) = %v, want an unknown service error", err)
	}
	if after := x.snapshot(t, "edge"); after != before {
		t.Error("a failed update replaced the snapshot")
	}
	edge.expectNone(200 * time.Millisecond)
	if got := x.metric("tollgate_xds_config_info", map[string]string{"version": good.Version}); got != 1 {
		t.Errorf("config info no longer reports the good version after a failed update")
	}
	if got := x.metric("tollgate_xds_translation_errors_total", nil); got != 1 {
		t.Errorf("translation errors = %v, want 1", got)
	}
}

func TestServerForgetsDisconnectedProxies(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	edge.recv()
	edge.close()
	deadline := time.Now().Add(waitFor)
	for len(x.server.Proxies()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("proxy still listed after its stream closed: %+v", x.server.Proxies())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := x.metric("tollgate_xds_connected_proxies", nil); got != 0 {
		t.Errorf("connected proxies = %v, want 0", got)
	}
	// The idle group is forgotten: a client-named group cannot pin
	// snapshots forever. An Envoy of the group that comes back is served.
	if x.server.groupSnapshot("edge") != nil {
		t.Error("the idle group's snapshot is still cached")
	}
	again := x.sotw(t, "envoy-b", "edge")
	again.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	if resp := again.recv(); len(resp.GetResources()) == 0 {
		t.Error("a returning Envoy of a forgotten group got no listeners")
	}
}

// testServer is a Server behind a real gRPC server on loopback.
type testServer struct {
	server *Server
	conn   *grpc.ClientConn
	reg    *prometheus.Registry
	logs   *testenv.Buffer
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	x := &testServer{reg: prometheus.NewRegistry(), logs: &testenv.Buffer{}}
	x.server = NewServer(t.Context(), slog.New(slog.NewTextHandler(x.logs, nil)), x.reg, Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	x.server.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	x.conn, err = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.conn.Close() })
	return x
}

// snapshot returns the snapshot the cache holds for a group.
func (x *testServer) snapshot(t *testing.T, group string) cachev3.ResourceSnapshot {
	t.Helper()
	s := x.server.groupSnapshot(group)
	if s == nil {
		t.Fatalf("no snapshot for group %s", group)
	}
	return s
}

// waitProxy waits until the proxy's status satisfies ok.
func (x *testServer) waitProxy(t *testing.T, node string, ok func(ProxyStatus) bool) ProxyStatus {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		for _, p := range x.server.Proxies() {
			if p.NodeID == node && ok(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy %s never reached the expected state: %+v", node, x.server.Proxies())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric returns the value of the sample of a metric with the given
// labels, or 0 when there is none.
func (x *testServer) metric(name string, labels map[string]string) float64 {
	families, err := x.reg.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := true
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
					match = false
				}
			}
			if match {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// resourceNames decodes the names of the resources of a response, sorted.
func resourceNames(t *testing.T, resources []*anypb.Any) []string {
	t.Helper()
	var out []string
	for _, r := range resources {
		m, err := r.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cachev3.GetResourceName(m))
	}
	slices.Sort(out)
	return out
}

func TestServerCheckServesNothing(t *testing.T) {
	x := startServer(t)
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})

	bad := twoGroupPolicy(t)
	bad.Routes[0].To[0].Service = "missing"
	if err := x.server.Check(bad); err == nil {
		t.Error("Check accepted a route to an unknown service")
	}
	if err := x.server.Check(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	edge.expectNone(200 * time.Millisecond)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	if got := resourceNames(t, edge.recv().GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("edge node got listeners %v, want [edge-http]", got)
	}
}

func TestServerRefusesPolicyBrokenForAGroupNotYetConnected(t *testing.T) {
	x := startServer(t)
	p := twoGroupPolicy(t)
	p.Routes[1].To[0].Service = "missing" // internal's route; no internal Envoy is connected
	if err := x.server.Update(p); err == nil || !strings.Contains(err.Error(), `"internal"`) {
		t.Fatalf("Update = %v, want an error for group internal", err)
	}
}

func TestTypeLabelIsBounded(t *testing.T) {
	if got := typeLabel(resourcev3.RouteType); got != resourcev3.RouteType {
		t.Errorf("typeLabel(route) = %q", got)
	}
	if got := typeLabel("type.googleapis.com/made.up.by.a.Client"); got != "other" {
		t.Errorf("typeLabel(unknown) = %q, want other", got)
	}
}
