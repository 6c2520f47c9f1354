package xds

import (
	"context"
	"slices"
	"strings"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// sharedResponses is go-control-plane's snapshot cache, except that a
// state-of-the-world response is marshalled once per node group, type,
// version and set of resources, and then shared by every stream it goes to.
//
// Why: go-control-plane v0.14.0's snapshot cache builds a new RawResponse
// for every watch (createResponse in pkg/cache/v3/simple.go), wrapping
// each resource in a new cachedResource (newCachedResourceWithTTL) that
// RawResponse.GetDiscoveryResponse (pkg/cache/v3/cache.go) marshals
// afresh, so every resource is marshalled once per connected Envoy.
// Upstream: go-control-plane issue #238; PR #1324 marshals once in the
// linear cache, not in the snapshot cache. With 1,000 Envoys and a 10,000-route configuration
// (1.1 MB, about 21 ms to marshal) one route change would cost some 21 s of
// CPU; see "xDS fan-out" in docs/benchmarks.md.
//
// What is shared is the marshalled resources (the []*anypb.Any), which
// nothing changes once built: gRPC only reads them. Each stream gets its own
// top-level DiscoveryResponse, because the server writes the stream's nonce
// into it (streamWrapper.send in pkg/server/sotw/v3/server.go). Everything
// else a response reports (request, version, returned resources, context)
// is the cache's own response's, so the server's subscription tracking is
// unchanged. Delta responses are shared per resource (shareddelta.go);
// fetches go to the cache untouched.
//
// Pinned by upstream_test.go: TestSnapshotCacheMarshalsEachWatchItsOwnResponse
// fails when the cache shares marshalled resources itself (this type may
// then go); TestSnapshotCacheResponsesAreRawAndKeepTheirMessage when its
// responses stop being *RawResponse (share would silently stop sharing)
// or stop keeping their message; TestSnapshotCacheAnswersAWatchOnce when a
// watch may get more than the one response CreateWatch forwards.
type sharedResponses struct {
	cachev3.SnapshotCache
	// hash is the one the cache keys snapshots by: it names the entry a
	// response was built from. Memo entries are kept by the entry's group
	// (keyGroup), so that the Envoys of a group share them.
	hash cachev3.NodeHash

	// mu guards memo and marshals. It is held only to find or replace an
	// entry; marshalling happens outside it, once per entry.
	mu   sync.Mutex
	memo map[memoKey]*memoVersion
	// pruned is, by group, the snapshot the memo was last pruned for:
	// every Envoy of a group on one generation is set the same snapshot,
	// so only the first SetSnapshot of a push walks the memo.
	pruned map[string]cachev3.ResourceSnapshot
	// deltaMemo is the delta streams' memo (shareddelta.go).
	deltaMemo map[deltaKey]*deltaResource
	// marshals counts the responses, and delta resources, actually
	// marshalled, for tests.
	marshals int
}

var _ cachev3.SnapshotCache = (*sharedResponses)(nil)

// memoKey is what a memo entry is kept for: a group's resources of a type.
type memoKey struct{ group, typeURL string }

// memoVersion is the memo of one group and type: the responses of its
// current version, by the set of resources they carry.
type memoVersion struct {
	version string
	byNames map[string]*marshalled
}

// maxNameSets bounds the resource sets remembered per group, type and
// version. The Envoys of a group normally ask for the same names; past the
// bound (a fleet mid-change, say) responses are marshalled per stream, as
// go-control-plane does, rather than remembered without limit.
const maxNameSets = 16

// marshalled is a response marshalled once, from whichever stream got
// there first.
type marshalled struct {
	once sync.Once
	resp *discoveryv3.DiscoveryResponse
	err  error
}

// newSharedResponses wraps c, whose snapshots are keyed by hash.
func newSharedResponses(c cachev3.SnapshotCache, hash cachev3.NodeHash) *sharedResponses {
	return &sharedResponses{SnapshotCache: c, hash: hash, memo: map[memoKey]*memoVersion{}, deltaMemo: map[deltaKey]*deltaResource{}, pruned: map[string]cachev3.ResourceSnapshot{}}
}

// CreateWatch opens a watch on the cache with a channel of its own, and
// forwards the cache's response (there is at most one per state-of-the-
// world watch) as a sharedResponse.
//
// The forwarding goroutine ends with that response or when the watch is
// cancelled. Its channel has room for the one response, so the cache
// (which sends while holding its lock) never blocks on it. Nothing is
// forwarded once cancel has returned, as with the cache itself: the
// ordered ADS server relies on that when it drains its shared channel.
// The send to out does not block either: the server gives every watch room
// for its response.
func (c *sharedResponses) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	in := make(chan cachev3.Response, 1)
	cancel, err := c.SnapshotCache.CreateWatch(req, sub, in)
	if err != nil {
		return cancel, err
	}
	key := c.hash.ID(req.GetNode())
	return forwardOnce(in, out, cancel, func(resp cachev3.Response) cachev3.Response {
		return c.share(key, resp)
	}), nil
}

// SetSnapshot sets a group's snapshot and forgets the group's memo entries
// of versions it replaces, so that the memo holds responses of current
// versions only. Without this, an entry stayed until an Envoy of the group
// asked for the type's new version, which none does for a type it no
// longer subscribes to (the route configuration of a removed listener, the
// secrets of a policy without TLS): the marshalled responses of a large
// policy outlived it.
//
// While a rollout serves a group's Envoys two generations, the memo keeps
// the version set last: Envoys of the other one marshal their own
// responses (marshalledFor), as go-control-plane does, until it ends.
func (c *sharedResponses) SetSnapshot(ctx context.Context, key string, snap cachev3.ResourceSnapshot) error {
	if err := c.SnapshotCache.SetSnapshot(ctx, key, snap); err != nil {
		return err
	}
	group := keyGroup(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pruned[group] == snap {
		return nil
	}
	c.pruned[group] = snap
	for k, mv := range c.memo {
		if k.group == group && mv.version != snap.GetVersion(k.typeURL) {
			delete(c.memo, k)
		}
	}
	c.forgetDelta(group, snap)
	return nil
}

// ClearSnapshot forgets an entry's snapshot, and its group's memo: the
// group's other Envoys, if any, marshal their next responses again.
func (c *sharedResponses) ClearSnapshot(key string) {
	c.SnapshotCache.ClearSnapshot(key)
	group := keyGroup(key)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pruned, group)
	for k := range c.memo {
		if k.group == group {
			delete(c.memo, k)
		}
	}
	c.forgetDelta(group, nil)
}

// share wraps a response of the cache for a group. Heartbeats (which
// Tollgate does not send) and responses of other kinds pass as they are.
func (c *sharedResponses) share(key string, resp cachev3.Response) cachev3.Response {
	raw, ok := resp.(*cachev3.RawResponse)
	if !ok || raw.Heartbeat {
		return resp
	}
	return &sharedResponse{Response: raw, shared: c, key: key}
}

// marshalledFor returns the memo entry for resp, creating it if needed, or
// nil if resp is not to be shared: its version is no longer the group's
// current one, or the version has too many resource sets already.
func (c *sharedResponses) marshalledFor(entry string, resp cachev3.Response) *marshalled {
	key := memoKey{group: keyGroup(entry), typeURL: resp.GetRequest().GetTypeUrl()}
	version := resp.GetResponseVersion()
	names := nameSetKey(resp.GetReturnedResources())

	c.mu.Lock()
	defer c.mu.Unlock()
	mv := c.memo[key]
	if mv == nil || mv.version != version {
		// A stream may be late with an older version: replace the memo
		// only with the version the cache now serves, so that late
		// streams cannot make it flip back and forth.
		if !c.isCurrent(entry, key.typeURL, version) {
			return nil
		}
		mv = &memoVersion{version: version, byNames: map[string]*marshalled{}}
		c.memo[key] = mv
	}
	m := mv.byNames[names]
	if m == nil {
		if len(mv.byNames) >= maxNameSets {
			return nil
		}
		m = &marshalled{}
		mv.byNames[names] = m
	}
	return m
}

// isCurrent reports whether version is the version of a type in the
// entry's snapshot.
func (c *sharedResponses) isCurrent(entry, typeURL, version string) bool {
	snap, err := c.SnapshotCache.GetSnapshot(entry)
	return err == nil && snap.GetVersion(typeURL) == version
}

// nameSetKey is a set of resource names as a map key.
func nameSetKey(returned map[string]string) string {
	names := make([]string, 0, len(returned))
	for n := range returned {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, "\x00")
}

// sharedResponse is a response of the cache whose marshalled resources are
// shared with the other streams of its group. Every method but
// GetDiscoveryResponse is the cache's response's own.
type sharedResponse struct {
	cachev3.Response
	shared *sharedResponses
	key    string // the cache entry it was built from
}

var _ cachev3.Response = (*sharedResponse)(nil)

// GetDiscoveryResponse returns a new top-level response, for this stream
// alone, carrying the shared marshalled resources.
func (r *sharedResponse) GetDiscoveryResponse() (*discoveryv3.DiscoveryResponse, error) {
	m := r.shared.marshalledFor(r.key, r.Response)
	if m == nil {
		return r.Response.GetDiscoveryResponse()
	}
	m.once.Do(func() {
		// The cache's own response marshals; what it returns is kept
		// here and never handed to the server, which would write a
		// nonce into it.
		m.resp, m.err = r.Response.GetDiscoveryResponse()
		r.shared.mu.Lock()
		r.shared.marshals++
		r.shared.mu.Unlock()
	})
	if m.err != nil {
		return nil, m.err
	}
	return &discoveryv3.DiscoveryResponse{
		VersionInfo:  m.resp.GetVersionInfo(),
		Resources:    m.resp.GetResources(),
		Canary:       m.resp.GetCanary(),
		TypeUrl:      m.resp.GetTypeUrl(),
		ControlPlane: m.resp.GetControlPlane(),
	}, nil
}
