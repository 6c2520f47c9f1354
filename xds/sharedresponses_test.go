package xds

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"

	"github.com/tollgate/tollgate/policy"
)

// newTestSharedResponses is a shared-response cache serving p to the
// groups named.
func newTestSharedResponses(t *testing.T, p *policy.Policy, groups ...string) *sharedResponses {
	t.Helper()
	c := newSharedResponses(cachev3.NewSnapshotCache(true, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)}), groupHash{})
	for _, g := range groups {
		setTestSnapshot(t, c, p, g)
	}
	return c
}

func setTestSnapshot(t *testing.T, c *sharedResponses, p *policy.Policy, group string) {
	t.Helper()
	snap, err := Snapshot(p, group, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(context.Background(), group, snap); err != nil {
		t.Fatal(err)
	}
}

// watchRoutes opens a route watch for a node, as the server does: with a
// channel of room for one response. version is what the node holds.
func watchRoutes(t *testing.T, c *sharedResponses, node, group, version string) (chan cachev3.Response, func()) {
	t.Helper()
	req := &discoveryv3.DiscoveryRequest{
		Node:          &corev3.Node{Id: node, Cluster: group},
		TypeUrl:       resourcev3.RouteType,
		VersionInfo:   version,
		ResourceNames: []string{group + "-http"},
	}
	sub := streamv3.NewSotwSubscription(req.GetResourceNames(), true)
	if version != "" {
		sub.SetReturnedResources(map[string]string{group + "-http": version})
	}
	out := make(chan cachev3.Response, 1)
	cancel, err := c.CreateWatch(req, &sub, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return out, cancel
}

func receive(t *testing.T, out chan cachev3.Response) (cachev3.Response, *discoveryv3.DiscoveryResponse) {
	t.Helper()
	select {
	case resp := <-out:
		d, err := resp.GetDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		return resp, d
	case <-time.After(waitFor):
		t.Fatal("no response")
	}
	return nil, nil
}

func (c *sharedResponses) marshalCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.marshals
}

func TestSharedResponsesMarshalOncePerGroup(t *testing.T) {
	c := newTestSharedResponses(t, twoGroupPolicy(t), "edge", "internal")
	outA, _ := watchRoutes(t, c, "envoy-a", "edge", "")
	outB, _ := watchRoutes(t, c, "envoy-b", "edge", "")
	respA, a := receive(t, outA)
	_, b := receive(t, outB)

	if a == b {
		t.Fatal("two streams got the same top-level response; each needs its own for its nonce")
	}
	a.Nonce = "1"
	if b.GetNonce() != "" {
		t.Error("a nonce set on one stream's response shows on another's")
	}
	if len(a.GetResources()) != 1 || len(b.GetResources()) != 1 {
		t.Fatalf("got %d and %d route configurations, want 1 each", len(a.GetResources()), len(b.GetResources()))
	}
	if a.GetResources()[0] != b.GetResources()[0] {
		t.Error("the streams got separately marshalled route configurations, want one shared")
	}
	if got := c.marshalCount(); got != 1 {
		t.Errorf("marshalled %d times for two streams of one group, want 1", got)
	}
	// Everything but the marshalled response is the cache's own.
	if respA.GetResponseVersion() != a.GetVersionInfo() || respA.GetReturnedResources()["edge-http"] != a.GetVersionInfo() {
		t.Errorf("version %q, returned %v; want both %q", respA.GetResponseVersion(), respA.GetReturnedResources(), a.GetVersionInfo())
	}
	if respA.GetRequest().GetNode().GetId() != "envoy-a" {
		t.Errorf("response's request is from %q, want envoy-a", respA.GetRequest().GetNode().GetId())
	}

	// Another group has a memo of its own.
	outC, _ := watchRoutes(t, c, "envoy-c", "internal", "")
	if _, d := receive(t, outC); d.GetResources()[0] == a.GetResources()[0] {
		t.Error("groups edge and internal share a route configuration")
	}
	if got := c.marshalCount(); got != 2 {
		t.Errorf("marshalled %d times for two groups, want 2", got)
	}
}

func TestSharedResponsesKeepOnlyTheCurrentVersion(t *testing.T) {
	p := twoGroupPolicy(t)
	c := newTestSharedResponses(t, p, "edge")
	_, first := receive(t, channelOf(watchRoutes(t, c, "envoy-a", "edge", "")))

	// A watch on the version held is answered when the snapshot changes.
	out, _ := watchRoutes(t, c, "envoy-a", "edge", first.GetVersionInfo())
	next := twoGroupPolicy(t)
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	setTestSnapshot(t, c, next, "edge")
	_, second := receive(t, out)
	if second.GetVersionInfo() == first.GetVersionInfo() {
		t.Fatal("route version did not change")
	}
	if got := c.marshalCount(); got != 2 {
		t.Errorf("marshalled %d times for two versions, want 2", got)
	}
	c.mu.Lock()
	mv := c.memo[memoKey{"edge", resourcev3.RouteType}]
	c.mu.Unlock()
	if mv.version != second.GetVersionInfo() || len(mv.byNames) != 1 {
		t.Errorf("memo holds version %q with %d resource sets, want only %q", mv.version, len(mv.byNames), second.GetVersionInfo())
	}

	c.ClearSnapshot("edge")
	c.mu.Lock()
	left := len(c.memo)
	c.mu.Unlock()
	if left != 0 {
		t.Errorf("memo keeps %d entries after its group was cleared", left)
	}
}

func TestSharedResponsesCancelledWatchGetsNothing(t *testing.T) {
	p := twoGroupPolicy(t)
	c := newTestSharedResponses(t, p, "edge")
	_, first := receive(t, channelOf(watchRoutes(t, c, "envoy-a", "edge", "")))
	out, cancel := watchRoutes(t, c, "envoy-a", "edge", first.GetVersionInfo())
	cancel()
	cancel() // the server may cancel more than once

	next := twoGroupPolicy(t)
	next.Routes[0].Match.PathPrefix = "/v2/orders"
	setTestSnapshot(t, c, next, "edge")
	select {
	case resp := <-out:
		t.Fatalf("a cancelled watch got version %s", resp.GetResponseVersion())
	case <-time.After(100 * time.Millisecond):
	}
}

// TestServerMarshalsOncePerGroup checks the wiring: two Envoys of a group
// subscribing to every type cost one marshal per type, not two.
func TestServerMarshalsOncePerGroup(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{resourcev3.EndpointType: {"orders"}, resourcev3.RouteType: {"edge-http"}}
	x.sotw(t, "envoy-a", "edge").subscribeAll(names)
	x.sotw(t, "envoy-b", "edge").subscribeAll(names)
	if got := x.server.shared.marshalCount(); got != 4 {
		t.Errorf("marshalled %d responses for two Envoys subscribing to 4 types, want 4", got)
	}
}

// channelOf drops the cancel func of watchRoutes, which t.Cleanup calls.
func channelOf(out chan cachev3.Response, _ func()) chan cachev3.Response { return out }
