package xds

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
)

func TestRetryDelayDoublesUpToItsBound(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := retryDelay(i + 1); got != w {
			t.Errorf("retryDelay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := retryDelay(1000); got != maxRetryDelay {
		t.Errorf("retryDelay(1000) = %v, want %v", got, maxRetryDelay)
	}
}

// TestServerReoffersARejectedConfigurationWithBackoff: a rejected version
// is neither sent again at once (the loop the NACK rewrite prevents) nor
// left alone until the policy changes (the listener of a port that has
// since freed would never come up): it is offered again after 1 s, then
// 2 s..., and once accepted the rejection is forgotten. Another Envoy of
// the group, which accepted it, receives nothing more.
func TestServerReoffersARejectedConfigurationWithBackoff(t *testing.T) {
	t.Parallel() // mostly waits for the backoff timers
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	happy := x.sotw(t, "envoy-happy", "edge")
	happy.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	happy.ack(happy.recv())

	e := x.sotw(t, "envoy-a", "edge")
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	first := e.recv()
	e.nack(first, "cannot bind '127.0.0.1:8080': Address already in use")
	// Less than the first backoff (1 s): nothing, however loaded the machine.
	e.expectNone(300 * time.Millisecond)
	again := e.recv()
	if again.GetVersionInfo() != first.GetVersionInfo() || again.GetNonce() == first.GetNonce() {
		t.Fatalf("re-offer: version %s nonce %s, want version %s with a new nonce", again.GetVersionInfo(), again.GetNonce(), first.GetVersionInfo())
	}
	if got := resourceNames(t, again.GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("re-offered listeners %v, want [edge-http]", got)
	}
	e.nack(again, "cannot bind '127.0.0.1:8080': Address already in use")
	p := x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return p.Rejected[resourcev3.ListenerType].Count == 2 })
	if n := p.Rejected[resourcev3.ListenerType]; n.Version != first.GetVersionInfo() {
		t.Errorf("rejected listeners = %+v, want version %s", n, first.GetVersionInfo())
	}
	if got := x.metric("tollgate_xds_proxies_rejecting", map[string]string{"type_url": resourcev3.ListenerType}); got != 1 {
		t.Errorf("proxies rejecting listeners = %v, want 1", got)
	}
	e.ack(e.recv()) // the second re-offer, 2 s later: the port is free now
	x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return len(p.Rejected) == 0 })
	if got := x.metric("tollgate_xds_proxies_rejecting", map[string]string{"type_url": resourcev3.ListenerType}); got != 0 {
		t.Errorf("proxies rejecting listeners after the ACK = %v, want 0", got)
	}
	happy.expectNone(100 * time.Millisecond)
	if got := x.metric("tollgate_xds_nacks_total", map[string]string{"type_url": resourcev3.ListenerType}); got != 2 {
		t.Errorf("NACKs = %v, want 2", got)
	}
	if n := strings.Count(x.logs.String(), `level=WARN msg="Envoy rejected configuration"`); n != 1 {
		t.Errorf("the rejection is logged at Warn %d times, want once", n)
	}
}

// TestServerReoffersARejectedDeltaConfiguration: over delta, the cache
// believes the Envoy holds what it was sent; the re-offer sends it again.
func TestServerReoffersARejectedDeltaConfiguration(t *testing.T) {
	t.Parallel()
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	d := x.delta(t, "envoy-b", "internal")
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	first := d.recv()
	d.nack(first, "cannot bind")
	again := d.recv()
	if len(again.GetResources()) != 1 || again.GetResources()[0].GetName() != "internal-http" || again.GetSystemVersionInfo() != first.GetSystemVersionInfo() {
		t.Fatalf("re-offer = %v, want listener internal-http at %s", again, first.GetSystemVersionInfo())
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: again.GetNonce()})
	x.waitProxy(t, "envoy-b", func(p ProxyStatus) bool { return len(p.Rejected) == 0 })
}

// TestServerNewPolicyAnswersARejectionAtOnce: a new version does not wait
// for the backoff.
func TestServerNewPolicyAnswersARejectionAtOnce(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	e := x.sotw(t, "envoy-a", "edge")
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	first := e.recv()
	e.nack(first, "bad")
	x.waitProxy(t, "envoy-a", func(p ProxyStatus) bool { return len(p.Rejected) == 1 })
	fixed := twoGroupPolicy(t)
	fixed.Version = "v2"
	fixed.Listeners[0].Port = 8081
	if err := x.server.Update(fixed); err != nil {
		t.Fatal(err)
	}
	if next := e.recv(); next.GetVersionInfo() == first.GetVersionInfo() {
		t.Errorf("got the rejected version %s again, want the new one", next.GetVersionInfo())
	}
}

// TestServerIgnoresAnEmptyRouteSubscription: Envoy asks for no route
// configuration when the listener that named one is gone (a port in use);
// answering with every route configuration made Envoy ignore it and ask
// again, thousands of times a second.
func TestServerIgnoresAnEmptyRouteSubscription(t *testing.T) {
	t.Parallel()
	x := startServer(t)
	if err := x.server.Update(twoGroupPolicy(t)); err != nil {
		t.Fatal(err)
	}
	e := x.sotw(t, "envoy-a", "edge")
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType})
	e.expectNone(300 * time.Millisecond)
	// Once it names one, it gets it.
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"edge-http"}})
	if got := resourceNames(t, e.recv().GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("routes %v, want [edge-http]", got)
	}
	// Unsubscribing from it gets nothing either.
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType})
	e.expectNone(300 * time.Millisecond)
	// Listeners stay a wildcard subscription.
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	if got := resourceNames(t, e.recv().GetResources()); !slices.Equal(got, []string{"edge-http"}) {
		t.Errorf("listeners %v, want [edge-http]", got)
	}
}

// TestServerAnswersASubsetOfRoutes: an Envoy that rejected one of two
// listeners asks for the other's route configuration only, and gets it.
func TestServerAnswersASubsetOfRoutes(t *testing.T) {
	x := startServer(t)
	p := twoGroupPolicy(t)
	p.Listeners[1].Groups = []string{"edge"}
	if err := x.server.Update(p); err != nil {
		t.Fatal(err)
	}
	e := x.sotw(t, "envoy-a", "edge")
	e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNames: []string{"internal-http"}})
	if got := resourceNames(t, e.recv().GetResources()); !slices.Equal(got, []string{"internal-http"}) {
		t.Errorf("routes %v, want [internal-http]", got)
	}
}

// TestSnapshotCacheAnswersAnEmptySubscription pins the go-control-plane
// behaviour skipUnsubscribed works around: its cache answers a
// subscription to nothing with every resource. When an upgrade makes this
// fail, drop skipUnsubscribed.
func TestSnapshotCacheAnswersAnEmptySubscription(t *testing.T) {
	c := cachev3.NewSnapshotCache(false, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)})
	snap, err := Snapshot(twoGroupPolicy(t), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(context.Background(), "edge", snap); err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "a", Cluster: "edge"}, TypeUrl: resourcev3.RouteType}
	sub := streamv3.NewSotwSubscription(nil, false)
	if sub.IsWildcard() {
		t.Fatal("a route subscription to nothing is wildcard")
	}
	out := make(chan cachev3.Response, 1)
	cancel, err := c.CreateWatch(req, &sub, out)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	select {
	case resp := <-out:
		if len(resp.GetReturnedResources()) == 0 {
			t.Fatal("the cache now answers a subscription to nothing with nothing: skipUnsubscribed may go")
		}
	default:
		t.Fatal("the cache no longer answers a subscription to nothing: skipUnsubscribed may go")
	}
}

// TestSnapshotCacheADSModeAnswersOnlyEveryName pins why the server's cache
// is not in ADS mode: in it, go-control-plane answers a request naming some
// of a type's resources with nothing, so an Envoy that rejected one of two
// listeners never got the other's routes. When an upgrade makes this fail,
// ADS mode could come back.
func TestSnapshotCacheADSModeAnswersOnlyEveryName(t *testing.T) {
	c := cachev3.NewSnapshotCache(true, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)})
	p := twoGroupPolicy(t)
	p.Listeners[1].Groups = []string{"edge"}
	snap, err := Snapshot(p, "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(context.Background(), "edge", snap); err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "a", Cluster: "edge"}, TypeUrl: resourcev3.RouteType, ResourceNames: []string{"internal-http"}}
	sub := streamv3.NewSotwSubscription(req.GetResourceNames(), false)
	out := make(chan cachev3.Response, 1)
	cancel, err := c.CreateWatch(req, &sub, out)
	if err != nil {
		t.Fatal(err)
	}
	if cancel != nil {
		defer cancel()
	}
	select {
	case resp := <-out:
		t.Fatalf("ADS mode now answers a subset of names (%v): it could be used again", resp.GetReturnedResources())
	default:
	}
}
