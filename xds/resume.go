package xds

import (
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
)

// Replicas serve the same versions for the same policy (versions are
// content hashes), so an Envoy that moves to another replica (the first
// stopped, a maximum connection age passed) already holds what the new one
// would send. go-control-plane v0.14.0 sends it all again anyway:
//
//   - state of the world: a new stream's subscription has returned nothing,
//     so snapshotCache.CreateWatch (pkg/cache/v3/simple.go) answers even a
//     request whose version_info is the snapshot's;
//   - delta: respondDelta answers the first wildcard request of a stream
//     even when nothing differs from its initial_resource_versions, which
//     a fresh Envoy needs to finish initializing but a reconnecting one
//     does not.
//
// A thousand Envoys reconnecting after a rollout would each get (and apply,
// counting an update) every type again. resumeStreams stops that:
//
//   - state of the world: the first request of a type on a stream, not a
//     NACK, whose version_info is the Envoy's current version of that type,
//     is taken to hold every resource it subscribes to (for a wildcard,
//     every resource of the type). The Envoy said it applied exactly this
//     version: a response of that version carries every resource of a
//     wildcard type, and the resources it asked for of a named type.
//     Callbacks decide (they know the stream); the cache wrapper acts.
//   - delta: a first wildcard request that lists initial versions is not
//     answered unless something differs; the versions themselves are
//     compared by the cache, per resource.
//
// The one case this can get wrong: an Envoy that started watching a named
// resource (a route configuration) whose type's version did not change,
// and moved before any replica answered; it waits for it until the type
// next changes. That needs a listener accepted without any route content
// change (after a NACK, say) and a move in the same round trip.
// TestResumedStreamsAreNotSentWhatTheyHave fails once an upgrade changes
// the cache's behaviour here.
type resumeStreams struct {
	cachev3.SnapshotCache
	// resumed holds, from OnStreamRequest to CreateWatch of the same
	// request (the server passes the very same message), the resources a
	// resumed state-of-the-world request holds.
	resumed *sync.Map // *discoveryv3.DiscoveryRequest → map[string]string
}

var _ cachev3.SnapshotCache = resumeStreams{}

// CreateWatch treats a resumed request as having been sent what it holds.
func (c resumeStreams) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	if held, ok := c.resumed.LoadAndDelete(req); ok {
		sub = holding{Subscription: sub, held: held.(map[string]string)}
	}
	return c.SnapshotCache.CreateWatch(req, sub, out)
}

// CreateDeltaWatch keeps the cache from answering a reconnecting Envoy's
// first wildcard request when nothing differs from what it holds: the
// cache answers a first request (no nonce) unconditionally, so the request
// it sees carries one.
func (c resumeStreams) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	if req.GetResponseNonce() == "" && len(req.GetInitialResourceVersions()) > 0 && sub.IsWildcard() {
		req = proto.Clone(req).(*cachev3.DeltaRequest)
		req.ResponseNonce = "resumed"
	}
	return c.SnapshotCache.CreateDeltaWatch(req, sub, out)
}

// holding is a subscription whose Envoy holds the resources in held.
type holding struct {
	cachev3.Subscription
	held map[string]string
}

// ReturnedResources is what the Envoy holds.
func (h holding) ReturnedResources() map[string]string { return h.held }

// resumes records, for the first request of a type on a state-of-the-world
// stream, whether the Envoy already holds the group's current version of
// it, and if so what it holds. Callers hold mu.
func (s *Server) resumes(st *streamState, p *proxyState, req *discoveryv3.DiscoveryRequest) {
	typ := req.GetTypeUrl()
	if st.asked[typ] {
		return
	}
	st.asked[typ] = true
	snap := p.served
	if snap == nil || req.GetErrorDetail() != nil || req.GetResponseNonce() != "" ||
		req.GetVersionInfo() == "" || req.GetVersionInfo() != snap.GetVersion(typ) {
		return
	}
	held := map[string]string{}
	for name := range snap.GetResources(typ) {
		held[name] = req.GetVersionInfo()
	}
	s.resumed.Store(req, held)
}

// resumeStream is resumes for a request of the stream key, once
// onRequest has learnt the stream's Envoy.
func (s *Server) resumeStream(key streamKey, req *discoveryv3.DiscoveryRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[key]
	if st == nil || st.node == nil {
		return
	}
	if p := s.proxies[st.node.GetId()]; p != nil {
		s.resumes(st, p, req)
	}
}
