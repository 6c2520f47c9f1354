package xds

import (
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// pushLatencyCount is the number of push latencies observed for a type.
func (x *testServer) pushLatencyCount(t *testing.T, typeURL string) uint64 {
	t.Helper()
	families, err := x.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tollgate_xds_push_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == typeURL {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// plainTypes are the types twoGroupPolicy has resources of: it has no
// TLS, so no secrets are pushed.
var plainTypes = []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType}

func TestServerMeasuresPushToACK(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	first := edge.subscribeAll(map[string][]string{
		resourcev3.EndpointType: {"orders", AuthzCluster},
		resourcev3.RouteType:    {"edge-http"},
	})
	x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool {
		for _, typ := range plainTypes {
			if p.Acked[typ] != first[typ] {
				return false
			}
		}
		return true
	})
	// The group was discovered when this Envoy connected, and its first
	// snapshot pushed to it then: one latency per type.
	before := map[string]uint64{}
	for _, typ := range plainTypes {
		if before[typ] = x.pushLatencyCount(t, typ); before[typ] != 1 {
			t.Errorf("%s push latencies after the first push = %d, want 1", typ, before[typ])
		}
	}

	next := twoGroupPolicy(t)
	next.Version = "v2"
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	resp := edge.recv()
	edge.ack(resp)
	x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return p.Acked[resourcev3.RouteType] == resp.GetVersionInfo() })
	if n := x.pushLatencyCount(t, resourcev3.RouteType); n != before[resourcev3.RouteType]+1 {
		t.Errorf("route push latencies = %d, want one more than %d", n, before[resourcev3.RouteType])
	}
	if n := x.pushLatencyCount(t, resourcev3.ClusterType); n != before[resourcev3.ClusterType] {
		t.Errorf("cluster push latencies = %d, want %d: clusters did not change", n, before[resourcev3.ClusterType])
	}
}

func TestServerDoesNotResendARejectedVersion(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	resp := edge.recv()
	edge.nack(resp, "listener edge-http: bad")
	// Sending the same rejected version again would only be rejected again.
	edge.expectNone(300 * time.Millisecond)

	// A new version is sent as soon as there is one.
	next := twoGroupPolicy(t)
	next.Version = "v2"
	next.Listeners[0].Port = 8081
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	again := edge.recv()
	if again.GetTypeUrl() != resourcev3.ListenerType || again.GetVersionInfo() == resp.GetVersionInfo() {
		t.Errorf("after a fix got %s version %s, want a new listener version", again.GetTypeUrl(), again.GetVersionInfo())
	}
}
