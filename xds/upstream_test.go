package xds

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	streamv3 "github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The tests in this file pin go-control-plane v0.14.0 behaviour that
// Tollgate's wrappers of its cache and callbacks depend on or work around
// (sharedresponses.go, shareddelta.go, callbacks.go's NACK rewrite, nackretry.go,
// unsubscribed.go; the last also has TestSnapshotCacheAnswersAnEmptySubscription,
// and server.go's choice of mode TestSnapshotCacheADSModeAnswersOnlyEveryName).
// Each fails if an upgrade changes the behaviour; its message says which
// wrapper to revisit.

// pinYAML has two listeners of group edge, so that the group has two
// route configurations.
const pinYAML = `listeners:
  - { name: edge-http, address: 127.0.0.1, port: 8080, groups: [edge] }
  - { name: internal-http, address: 127.0.0.1, port: 9090, groups: [edge] }
services:
  orders: { endpoints: [127.0.0.1:9001] }
routes:
  - { name: orders, match: { path_prefix: /orders }, to: orders }
`

// pinnedCache is a snapshot cache as the Server builds it (not in ADS
// mode), holding pinYAML's snapshot for group edge.
func pinnedCache(t *testing.T) (cachev3.SnapshotCache, *cachev3.Snapshot) {
	t.Helper()
	c := cachev3.NewSnapshotCache(false, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)})
	snap, err := Snapshot(loadTestPolicy(t, pinYAML), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(context.Background(), "edge", snap); err != nil {
		t.Fatal(err)
	}
	return c, snap
}

// clusterWatch opens a state-of-the-world cluster watch for node a of
// group edge, with room for one response. The stream has been sent every
// cluster of snap at version, as the server records (streamWrapper.send);
// an empty version means nothing was sent.
func clusterWatch(t *testing.T, c cachev3.SnapshotCache, snap *cachev3.Snapshot, version string, nack bool) chan cachev3.Response {
	t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "a", Cluster: "edge"}, TypeUrl: resourcev3.ClusterType, VersionInfo: version}
	if nack {
		req.ErrorDetail = status.New(codes.InvalidArgument, "rejected").Proto()
	}
	sub := streamv3.NewSotwSubscription(nil, true)
	if version != "" {
		returned := map[string]string{}
		for name := range snap.GetResources(resourcev3.ClusterType) {
			returned[name] = version
		}
		sub.SetReturnedResources(returned)
	}
	out := make(chan cachev3.Response, 1)
	cancel, err := c.CreateWatch(req, &sub, out)
	if err != nil {
		t.Fatal(err)
	}
	if cancel != nil {
		t.Cleanup(cancel)
	}
	return out
}

// answered is the response a watch has already sent, or nil.
func answered(out chan cachev3.Response) cachev3.Response {
	select {
	case resp := <-out:
		return resp
	default:
		return nil
	}
}

// TestSnapshotCacheMarshalsEachWatchItsOwnResponse pins why
// sharedResponses exists: two watches answered with the same version get
// resources marshalled twice. The snapshot cache's createResponse
// (pkg/cache/v3/simple.go) wraps every resource in a new cachedResource
// (newCachedResourceWithTTL) per watch, and each marshals it
// (RawResponse.GetDiscoveryResponse, pkg/cache/v3/cache.go). Upstream
// go-control-plane issue #238; PR #1324 made the linear cache marshal once
// but not the snapshot cache. When this fails, sharedResponses may go.
func TestSnapshotCacheMarshalsEachWatchItsOwnResponse(t *testing.T) {
	c, snap := pinnedCache(t)
	var bytes [2][]byte
	for i := range bytes {
		resp := answered(clusterWatch(t, c, snap, "", false))
		if resp == nil {
			t.Fatal("a first request was not answered at once")
		}
		d, err := resp.GetDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		bytes[i] = d.GetResources()[0].GetValue()
	}
	if &bytes[0][0] == &bytes[1][0] {
		t.Fatal("the snapshot cache now shares marshalled resources between watches: sharedResponses may go")
	}
}

// TestSnapshotCacheResponsesAreRawAndKeepTheirMessage pins what
// sharedResponses relies on to share safely: the cache's state-of-the-
// world responses are *cachev3.RawResponse (sharedResponses.share wraps
// only those; another type would silently stop the sharing), and
// GetDiscoveryResponse returns the same message each time, into which
// the server writes the stream's nonce (streamWrapper.send,
// pkg/server/sotw/v3/server.go). That is why sharedResponse gives each
// stream a top-level response of its own.
func TestSnapshotCacheResponsesAreRawAndKeepTheirMessage(t *testing.T) {
	c, snap := pinnedCache(t)
	resp := answered(clusterWatch(t, c, snap, "", false))
	raw, ok := resp.(*cachev3.RawResponse)
	if !ok {
		t.Fatalf("the cache answers with a %T, not a *cachev3.RawResponse: sharedResponses.share no longer shares", resp)
	}
	first, err := raw.GetDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := raw.GetDiscoveryResponse(); again != first {
		t.Fatal("RawResponse.GetDiscoveryResponse now builds a new message per call: revisit sharedResponse.GetDiscoveryResponse")
	}
}

// TestSnapshotCacheAnswersAWatchOnce pins that a state-of-the-world watch
// gets at most one response: once answered, the cache forgets it
// (respondSOTWWatches, pkg/cache/v3/simple.go), and a later snapshot goes
// to the server's next watch. sharedResponses and retryRejected forward
// only the first response of a watch, through a channel with room for one.
func TestSnapshotCacheAnswersAWatchOnce(t *testing.T) {
	c, snap := pinnedCache(t)
	out := clusterWatch(t, c, snap, "stale", false)
	if answered(out) == nil {
		t.Fatal("a stale version was not answered at once")
	}
	next := loadTestPolicy(t, strings.Replace(pinYAML, "[127.0.0.1:9001]", "[127.0.0.1:9001], connect_timeout: 3s", 1))
	s2, err := Snapshot(next, "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s2.GetVersion(resourcev3.ClusterType) == snap.GetVersion(resourcev3.ClusterType) {
		t.Fatal("the test's second snapshot has the same cluster version")
	}
	if err := c.SetSnapshot(context.Background(), "edge", s2); err != nil {
		t.Fatal(err)
	}
	if resp := answered(out); resp != nil {
		t.Fatalf("an answered watch got a second response (%s): sharedResponses and retryRejected would drop it", resp.GetResponseVersion())
	}
}

// TestSnapshotCacheAnswersByRequestVersion pins the behaviour behind
// callbacks.OnStreamRequest's NACK rewrite and retryRejected: the cache
// answers at once a request whose version_info differs from the
// snapshot's, NACK or not, and waits when it is the snapshot's
// (snapshotCache.CreateWatch, pkg/cache/v3/simple.go, compares only
// versions; it never reads error_detail). A NACK names the last version
// the Envoy accepted, so without the rewrite the rejected version is sent
// again at once, in a loop (upstream issue #962; PR #794, which would
// have let callbacks decide, was closed). retryRejected re-asks with an
// empty version to be answered at once.
func TestSnapshotCacheAnswersByRequestVersion(t *testing.T) {
	c, snap := pinnedCache(t)
	current := snap.GetVersion(resourcev3.ClusterType)
	cases := []struct {
		name, version string
		nack, answer  bool
	}{
		{"NACK naming the last accepted version", "previous", true, true},
		{"NACK rewritten to name the rejected version", current, true, false},
		{"re-offer: no version", "", false, true},
	}
	for _, tc := range cases {
		resp := answered(clusterWatch(t, c, snap, tc.version, tc.nack))
		if got := resp != nil; got != tc.answer {
			t.Errorf("%s: answered at once = %v, want %v: revisit callbacks.OnStreamRequest and retryRejected", tc.name, got, tc.answer)
		}
		if resp != nil && resp.GetResponseVersion() != current {
			t.Errorf("%s: answered with version %s, want the snapshot's %s", tc.name, resp.GetResponseVersion(), current)
		}
	}
}

// TestSnapshotCacheDeltaSendsWhatTheSubscriptionLacks pins what
// retryRejected's delta re-offer relies on: the cache answers a delta
// watch with the subscribed resources whose version the subscription does
// not hold (createDeltaResponse, pkg/cache/v3/delta.go), so a
// subscription that holds none (forgotten) gets every one again, and one
// holding the current versions gets nothing.
func TestSnapshotCacheDeltaSendsWhatTheSubscriptionLacks(t *testing.T) {
	c, _ := pinnedCache(t)
	watch := func(sub cachev3.Subscription) cachev3.DeltaResponse {
		req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "a", Cluster: "edge"}, TypeUrl: resourcev3.ClusterType, ResponseNonce: "1"}
		out := make(chan cachev3.DeltaResponse, 1)
		cancel, err := c.CreateDeltaWatch(req, sub, out)
		if err != nil {
			t.Fatal(err)
		}
		if cancel != nil { // none when answered at once
			t.Cleanup(cancel)
		}
		select {
		case resp := <-out:
			return resp
		default:
			return nil
		}
	}
	first := watch(ptr(streamv3.NewDeltaSubscription(nil, nil, nil, true)))
	if first == nil {
		t.Fatal("a delta subscription holding nothing was not answered at once")
	}
	held := first.GetNextVersionMap()
	sub := streamv3.NewDeltaSubscription(nil, nil, held, true)
	if resp := watch(&sub); resp != nil {
		t.Fatalf("a delta subscription holding every current version was answered (%v): revisit retryRejected.CreateDeltaWatch", resp.GetNextVersionMap())
	}
	resp := watch(forgotten{&sub})
	if resp == nil {
		t.Fatal("a forgotten delta subscription was not answered: revisit retryRejected.CreateDeltaWatch")
	}
	d, err := resp.GetDeltaDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.GetResources()) != len(held) {
		t.Errorf("a forgotten subscription got %d resources, want all %d", len(d.GetResources()), len(held))
	}
}

func ptr[T any](v T) *T { return &v }

// recordingCache records the version_info of the requests it opens
// watches for and, when a watch is cancelled, the resources its
// subscription says were returned.
type recordingCache struct {
	cachev3.SnapshotCache
	versions  chan string
	cancelled chan map[string]string
}

func (c recordingCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	c.versions <- req.GetVersionInfo()
	cancel, err := c.SnapshotCache.CreateWatch(req, sub, out)
	return func() {
		c.cancelled <- maps.Clone(sub.ReturnedResources())
		if cancel != nil {
			cancel()
		}
	}, err
}

// startRecordingServer serves ADS from a go-control-plane server over c
// with callbacks cb, and returns a stream to it.
func startRecordingServer(t *testing.T, c recordingCache, cb serverv3.Callbacks) discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(t.Context(), c, cb))
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

func newRecordingCache() recordingCache {
	return recordingCache{
		SnapshotCache: cachev3.NewSnapshotCache(false, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)}),
		versions:      make(chan string, 4),
		cancelled:     make(chan map[string]string, 4),
	}
}

// TestServerCancelsAWatchBeforeChangingItsSubscription pins what
// retryWatch relies on to read a subscription safely: when a request
// changes a stream's subscription, go-control-plane's server cancels the
// open watch first, and only then updates the subscription
// (server.process, pkg/server/sotw/v3/xds.go: w.close(), then
// SetResourceSubscription, which deletes from the returned-resources map
// the cache's copy shares).
func TestServerCancelsAWatchBeforeChangingItsSubscription(t *testing.T) {
	c := newRecordingCache()
	snap, err := Snapshot(loadTestPolicy(t, pinYAML), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetSnapshot(context.Background(), "edge", snap); err != nil {
		t.Fatal(err)
	}
	stream := startRecordingServer(t, c, nil)
	node := &corev3.Node{Id: "a", Cluster: "edge"}
	both := []string{"edge-http", "internal-http"}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: both}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	// The Envoy acknowledges the response (the server replaces the watch,
	// whose subscription now shares the map of returned resources), then
	// drops one route configuration (the server replaces the watch again
	// and deletes the dropped name from that map).
	for _, names := range [][]string{both, both[:1]} {
		if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resourcev3.RouteType, ResourceNames: names,
			VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		select {
		case returned := <-c.cancelled:
			// The first is the watch the acknowledgement replaced.
			if _, ok := returned["internal-http"]; i == 1 && (!ok || len(returned) != 2) {
				t.Fatalf("at cancel time the subscription had returned %v, want both route configurations: the server changed it before cancelling; revisit retryWatch", returned)
			}
		case <-time.After(waitFor):
			t.Fatal("the server did not cancel the watch")
		}
	}
}

// TestServerHandsTheCacheTheRequestOnStreamRequestSaw pins what the NACK
// rewrite in callbacks.OnStreamRequest relies on: go-control-plane's
// state-of-the-world server calls OnStreamRequest with the very request
// it then opens the cache's watch with (server.process,
// pkg/server/sotw/v3/xds.go), so changing its version_info in the
// callback changes what the cache compares. If the server copied the
// request, or opened the watch first, NACKs would loop again.
func TestServerHandsTheCacheTheRequestOnStreamRequestSaw(t *testing.T) {
	c := newRecordingCache()
	cb := serverv3.CallbackFuncs{StreamRequestFunc: func(_ int64, req *discoveryv3.DiscoveryRequest) error {
		req.VersionInfo = "rewritten"
		return nil
	}}
	stream := startRecordingServer(t, c, cb)
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "a", Cluster: "edge"}, TypeUrl: resourcev3.ClusterType, VersionInfo: "from-envoy"}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-c.versions:
		if v != "rewritten" {
			t.Fatalf("the cache saw version_info %q, not the callback's: callbacks.OnStreamRequest's NACK rewrite no longer works", v)
		}
	case <-time.After(waitFor):
		t.Fatal("the server opened no watch")
	}
}

// TestSharedDeltaMatchesTheCache pins what sharedResponses' delta
// responses (shareddelta.go) rebuild from go-control-plane's: for each kind
// of subscription (wildcard or named, holding nothing, stale, removed or
// current versions) the shared response carries the same resources, names,
// versions, marshalled bytes, removed names and versions as the cache's
// own, and it is built by sharedResponses (the cache's responses are still
// *RawDeltaResponse). An upgrade that changes createDeltaResponse's
// choices, or the bytes it sends, fails here.
func TestSharedDeltaMatchesTheCache(t *testing.T) {
	plain, snap := pinnedCache(t)
	shared := newSharedResponses(cachev3.NewSnapshotCache(false, groupHash{}, cacheLog{slog.New(slog.DiscardHandler)}), groupHash{})
	if err := shared.SetSnapshot(context.Background(), "edge", snap); err != nil {
		t.Fatal(err)
	}
	if err := snap.ConstructVersionMap(); err != nil {
		t.Fatal(err)
	}
	current := snap.GetVersionMap(resourcev3.ClusterType)
	names := slices.Sorted(maps.Keys(current))
	if len(names) < 2 {
		t.Fatalf("pin policy has clusters %v, want at least 2", names)
	}
	stale := map[string]string{names[0]: "old", names[1]: current[names[1]], "gone": "v1"}
	for _, tc := range []struct {
		name string
		sub  func() streamv3.Subscription
	}{
		{"wildcard, holding nothing", func() streamv3.Subscription { return streamv3.NewDeltaSubscription(nil, nil, nil, true) }},
		{"wildcard, stale and removed", func() streamv3.Subscription { return streamv3.NewDeltaSubscription(nil, nil, stale, true) }},
		{"wildcard, current", func() streamv3.Subscription { return streamv3.NewDeltaSubscription(nil, nil, current, true) }},
		{"named, holding nothing", func() streamv3.Subscription {
			return streamv3.NewDeltaSubscription([]string{names[0], "never"}, nil, nil, false)
		}},
		{"named, stale and removed", func() streamv3.Subscription {
			return streamv3.NewDeltaSubscription([]string{names[0], names[1], "gone"}, nil, stale, false)
		}},
		{"named, current", func() streamv3.Subscription {
			return streamv3.NewDeltaSubscription([]string{names[1]}, nil, stale, false)
		}},
	} {
		subA, subB := tc.sub(), tc.sub()
		want := deltaWatch(t, plain, "a", "edge", resourcev3.ClusterType, &subA, 0)
		got := deltaWatch(t, shared, "a", "edge", resourcev3.ClusterType, &subB, 100*time.Millisecond)
		if (want == nil) != (got == nil) {
			t.Errorf("%s: cache answered %v, shared answered %v", tc.name, want != nil, got != nil)
			continue
		}
		if want == nil {
			continue
		}
		if _, ok := got.(*sharedDeltaResponse); !ok {
			t.Errorf("%s: response is a %T, not shared: the cache's is no longer *RawDeltaResponse", tc.name, want)
		}
		if !maps.Equal(want.GetNextVersionMap(), got.GetNextVersionMap()) {
			t.Errorf("%s: next versions %v, cache's %v", tc.name, got.GetNextVersionMap(), want.GetNextVersionMap())
		}
		w, g := deltaResponse(t, want), deltaResponse(t, got)
		for _, d := range []*discoveryv3.DeltaDiscoveryResponse{w, g} {
			slices.SortFunc(d.Resources, func(a, b *discoveryv3.Resource) int { return strings.Compare(a.GetName(), b.GetName()) })
			slices.Sort(d.RemovedResources)
		}
		if !proto.Equal(w, g) {
			t.Errorf("%s: shared response\n%v\ncache's\n%v", tc.name, g, w)
		}
	}
}
