package xds

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// namedTypes are the served types an Envoy asks for by name. Only
// listeners and clusters have wildcard subscriptions: for the others an
// empty list of names means the Envoy wants none (xDS protocol, "How the
// client specifies what resources to return"), so the server is told not
// to take it as a legacy wildcard.
var namedTypes = []string{resourcev3.RouteType, resourcev3.EndpointType, resourcev3.SecretType}

// skipUnsubscribed is a snapshot cache that never answers a state-of-the-
// world watch subscribed to nothing.
//
// Why: go-control-plane v0.14.0's snapshot cache answers a request whose
// version differs from the snapshot's with every resource of the type when
// the request names none (createResponse in pkg/cache/v3/simple.go reads
// the request's names, not the subscription). Envoy unsubscribes from a
// route configuration with such a request when the listener naming it is
// removed or fails (a port already in use), and answers the unwanted
// response with "Ignoring unwatched type URL" and the same request again:
// the two looped thousands of times a second. See go-control-plane
// PR #1319 for the same loop with a resource missing from the snapshot,
// and envoyproxy/envoy issue #10046 for Envoy's side of it.
// TestSnapshotCacheAnswersAnEmptySubscription fails once an upgrade fixes
// this, and the wrapper can go.
type skipUnsubscribed struct {
	cachev3.SnapshotCache
}

var _ cachev3.SnapshotCache = skipUnsubscribed{}

// CreateWatch opens no watch in the cache for a subscription to nothing:
// the server's next request for the type replaces the returned no-op one.
func (c skipUnsubscribed) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	if !sub.IsWildcard() && len(sub.SubscribedResources()) == 0 {
		return func() {}, nil
	}
	return c.SnapshotCache.CreateWatch(req, sub, out)
}
