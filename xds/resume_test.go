package xds

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// An Envoy that reconnects (to this replica or another serving the same
// versions) with the current version of a type is sent nothing of it; one
// with an older version, or asking a second time on the stream before any
// answer (a new route configuration), is answered. The barrier is a route
// change: the first response the resumed stream gets must be that change.
// Fails once go-control-plane's cache changes how it answers a stream's
// first request (see resumeStreams).
func TestResumedStreamsAreNotSentWhatTheyHave(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{resourcev3.EndpointType: {"orders"}, resourcev3.RouteType: {"edge-http"}}
	held := x.sotw(t, "envoy-a", "edge").subscribeAll(names)

	resumed := x.sotw(t, "envoy-a", "edge")
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType} {
		resumed.send(&discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: held[typ], ResourceNames: names[typ]})
	}
	stale := x.sotw(t, "envoy-b", "edge")
	stale.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType, VersionInfo: "older"})
	if resp := stale.recv(); resp.GetVersionInfo() != held[resourcev3.ClusterType] {
		t.Errorf("a stream with an older version got version %s, want %s", resp.GetVersionInfo(), held[resourcev3.ClusterType])
	}

	if err := x.server.Update(twoGroupPolicy(t, "---\nroutes:\n"+prefixRouteYAML("more", "/more", "orders", "listeners: [edge-http]"))); err != nil {
		t.Fatal(err)
	}
	resp := resumed.recv()
	if resp.GetTypeUrl() != resourcev3.RouteType || resp.GetVersionInfo() == held[resourcev3.RouteType] {
		t.Fatalf("a resumed stream got %s version %s first, want the changed routes: it was sent what it had", resp.GetTypeUrl(), resp.GetVersionInfo())
	}
}

// A stream that asks for a type a second time before any answer of it (a
// new route configuration, say) is answered, even at the current version.
func TestResumedStreamsGetWhatTheyAskForLater(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	held := x.sotw(t, "envoy-a", "edge").subscribeAll(map[string][]string{resourcev3.EndpointType: {"orders"}, resourcev3.RouteType: {"edge-http"}})
	resumed := x.sotw(t, "envoy-a", "edge")
	resumed.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: held[resourcev3.EndpointType], ResourceNames: []string{"orders"}})
	resumed.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.EndpointType, VersionInfo: held[resourcev3.EndpointType], ResourceNames: []string{"orders", "ledger"}})
	resp := resumed.recv()
	if resp.GetTypeUrl() != resourcev3.EndpointType || len(resp.GetResources()) == 0 {
		t.Errorf("a second request naming more endpoints got %s with %d resources", resp.GetTypeUrl(), len(resp.GetResources()))
	}
}
