package xds

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Applied ties an Envoy's per-type acknowledged versions back to the
// policy generation: on it only once every type it asked for is at the
// serving snapshot's version, and off it again while a new generation is
// being pushed.
func TestServerAppliedTiesAcksToTheServingGeneration(t *testing.T) {
	x := startServer(t)
	p := twoGroupPolicy(t)
	p.Version = "v1"
	if err := x.server.Update(p); err != nil {
		t.Fatal(err)
	}
	if got := x.server.Serving(); got != "v1" {
		t.Fatalf("Serving() = %q, want v1", got)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	names := map[string][]string{resourcev3.EndpointType: {"orders"}, resourcev3.RouteType: {"edge-http"}}
	for i, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
		edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, ResourceNames: names[typ]})
		edge.ack(edge.recv())
		if i == 1 {
			// Clusters and endpoints, no listeners yet: not applied.
			x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return p.Acked[resourcev3.EndpointType] != "" })
			if got := x.server.Applied()["envoy-a"]; got != "" {
				t.Errorf("without listeners: Applied = %q, want \"\"", got)
			}
		}
	}
	x.waitProxy(t, "envoy-a", func(ProxyStatus) bool { return x.server.Applied()["envoy-a"] == "v1" })

	next := twoGroupPolicy(t)
	next.Version = "v2"
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	if err := x.server.Update(next); err != nil {
		t.Fatal(err)
	}
	resp := edge.recv()
	if got := x.server.Applied()["envoy-a"]; got != "" {
		t.Errorf("v2 pushed, not yet ACKed: Applied = %q, want \"\"", got)
	}
	edge.ack(resp)
	x.waitProxy(t, "envoy-a", func(ProxyStatus) bool { return x.server.Applied()["envoy-a"] == "v2" })
}
