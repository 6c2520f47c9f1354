package xds

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

// deltaWatch opens a delta watch on c for a node and waits for its
// response, or returns nil if none comes within wait (0: none at once).
func deltaWatch(t *testing.T, c cachev3.SnapshotCache, node, group, typeURL string, sub cachev3.Subscription, wait time.Duration) cachev3.DeltaResponse {
	t.Helper()
	req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: node, Cluster: group}, TypeUrl: typeURL}
	out := make(chan cachev3.DeltaResponse, 1)
	cancel, err := c.CreateDeltaWatch(req, sub, out)
	if err != nil {
		t.Fatal(err)
	}
	if cancel != nil {
		t.Cleanup(cancel)
	}
	select {
	case resp := <-out: // the cache answers at once, before returning
		return resp
	default:
	}
	if wait == 0 {
		return nil
	}
	select {
	case resp := <-out:
		return resp
	case <-time.After(wait):
		return nil
	}
}

func deltaResponse(t *testing.T, resp cachev3.DeltaResponse) *discoveryv3.DeltaDiscoveryResponse {
	t.Helper()
	if resp == nil {
		t.Fatal("no delta response")
	}
	d, err := resp.GetDeltaDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSharedDeltaMarshalsOncePerGroup(t *testing.T) {
	c := newTestSharedResponses(t, twoGroupPolicy(t), "edge", "internal")
	watch := func(node, group string) *discoveryv3.DeltaDiscoveryResponse {
		sub := streamv3.NewDeltaSubscription(nil, nil, nil, true)
		return deltaResponse(t, deltaWatch(t, c, node, group, resourcev3.ClusterType, &sub, waitFor))
	}
	a, b := watch("envoy-a", "edge"), watch("envoy-b", "edge")
	if a == b {
		t.Fatal("two streams got the same top-level response; each needs its own for its nonce")
	}
	if len(a.GetResources()) == 0 || len(a.GetResources()) != len(b.GetResources()) {
		t.Fatalf("got %d and %d clusters, want the same, more than 0", len(a.GetResources()), len(b.GetResources()))
	}
	shared := map[string]*discoveryv3.Resource{}
	for _, r := range a.GetResources() {
		shared[r.GetName()] = r
	}
	for _, r := range b.GetResources() {
		if shared[r.GetName()] != r {
			t.Errorf("cluster %s was marshalled for each stream, want one shared", r.GetName())
		}
	}
	if got, want := c.marshalCount(), len(a.GetResources()); got != want {
		t.Errorf("marshalled %d resources for two streams of one group, want %d", got, want)
	}

	// Another group has a memo of its own.
	for _, r := range watch("envoy-c", "internal").GetResources() {
		if shared[r.GetName()] == r {
			t.Errorf("groups edge and internal share cluster %s", r.GetName())
		}
	}
}

func TestSharedDeltaKeepsOnlyCurrentVersions(t *testing.T) {
	c := newTestSharedResponses(t, twoGroupPolicy(t), "edge")
	routes := func() *discoveryv3.DeltaDiscoveryResponse {
		sub := streamv3.NewDeltaSubscription([]string{"edge-http"}, nil, nil, false)
		return deltaResponse(t, deltaWatch(t, c, "envoy-a", "edge", resourcev3.RouteType, &sub, waitFor))
	}
	memo := func() map[deltaKey]string {
		c.mu.Lock()
		defer c.mu.Unlock()
		m := map[deltaKey]string{}
		for k, e := range c.deltaMemo {
			m[k] = e.version
		}
		return m
	}
	first := routes()
	key := deltaKey{"edge", resourcev3.RouteType, "edge-http"}
	if got := memo()[key]; got != first.GetResources()[0].GetVersion() {
		t.Fatalf("memo holds route version %q, want %q", got, first.GetResources()[0].GetVersion())
	}

	next := twoGroupPolicy(t)
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	setTestSnapshot(t, c, next, "edge")
	if v, ok := memo()[key]; ok {
		t.Errorf("memo keeps replaced route version %q", v)
	}
	second := routes()
	if second.GetResources()[0].GetVersion() == first.GetResources()[0].GetVersion() {
		t.Fatal("route version did not change")
	}
	if got := memo()[key]; got != second.GetResources()[0].GetVersion() {
		t.Errorf("memo holds route version %q, want %q", got, second.GetResources()[0].GetVersion())
	}

	c.ClearSnapshot("edge")
	if m := memo(); len(m) != 0 {
		t.Errorf("memo keeps %d entries after its group was cleared", len(m))
	}
}

// TestServerDeltaMarshalsOncePerGroup checks the wiring over real gRPC
// streams: two delta Envoys of a group cost one marshal per cluster.
func TestServerDeltaMarshalsOncePerGroup(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	var sent [2]int
	for i, id := range []string{"envoy-a", "envoy-b"} {
		d := x.delta(t, id, "edge")
		d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType})
		sent[i] = len(d.recv().GetResources())
	}
	if sent[0] == 0 || sent[0] != sent[1] {
		t.Fatalf("streams were sent %v clusters, want the same, more than 0", sent)
	}
	if got := x.server.shared.marshalCount(); got != sent[0] {
		t.Errorf("marshalled %d clusters for two Envoys of one group sent %d each, want %d", got, sent[0], sent[0])
	}
}
