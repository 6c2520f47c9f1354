package xds

import (
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// Delta responses, like state-of-the-world ones, share what they marshal.
//
// Why: go-control-plane v0.14.0 builds each delta response with new
// cachedResources (createDeltaResponse, pkg/cache/v3/delta.go), which
// RawDeltaResponse.GetDeltaDiscoveryResponse (pkg/cache/v3/cache.go)
// marshals, and hashes, once per stream. A route change sent to 1,000
// delta Envoys marshalled the route 1,000 times; an Envoy connecting to a
// 10,000-route policy marshalled all of it again.
//
// What is shared is each resource as sent (*discoveryv3.Resource: name,
// version and marshalled Any), per group, type, name and version. The
// response around them is the stream's own: it carries the stream's
// removed names, and the server writes the stream's nonce into it. The
// memo holds the current version of each name only: SetSnapshot drops the
// versions a snapshot replaces.
//
// The response's resources come from GetRawResources and its versions from
// GetReturnedResources; the removed names, which the cache does not
// expose, are derived from the subscription as createDeltaResponse does.
// TestSharedDeltaMatchesTheCache (upstream_test.go) fails when an upgrade
// makes the two differ.

// deltaKey names one resource of a group.
type deltaKey struct{ group, typeURL, name string }

// deltaResource is one resource version marshalled once, by whichever
// stream got there first.
type deltaResource struct {
	name    string
	version string
	once    sync.Once
	res     *discoveryv3.Resource
	err     error
}

// CreateDeltaWatch opens a delta watch on the cache and forwards its
// response (the snapshot cache answers a delta watch once) as a
// sharedDeltaResponse, with the same cancellation guarantees as
// CreateWatch.
func (c *sharedResponses) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	in := make(chan cachev3.DeltaResponse, 1)
	cancel, err := c.SnapshotCache.CreateDeltaWatch(req, sub, in)
	if err != nil {
		return cancel, err
	}
	key := c.hash.ID(req.GetNode())
	return forwardOnce(in, out, cancel, func(resp cachev3.DeltaResponse) cachev3.DeltaResponse {
		return c.shareDelta(key, sub, resp)
	}), nil
}

// forwardOnce forwards the one response that arrives on in to out, mapped
// by f, unless the returned cancel (which also calls cancel) has run.
func forwardOnce[R any](in, out chan R, cancel func(), f func(R) R) func() {
	var (
		mu        sync.Mutex // guards cancelled and the send to out
		cancelled bool
		once      sync.Once
	)
	done := make(chan struct{})
	go func() {
		select {
		case resp := <-in:
			mu.Lock()
			defer mu.Unlock()
			if !cancelled {
				out <- f(resp)
			}
		case <-done:
		}
	}()
	return func() {
		once.Do(func() {
			if cancel != nil {
				cancel()
			}
			close(done)
			mu.Lock()
			cancelled = true
			mu.Unlock()
		})
	}
}

// shareDelta wraps a delta response of the cache for a group. The removed
// names are computed now, from the subscription the cache answered, before
// the server records what this response returns.
func (c *sharedResponses) shareDelta(key string, sub cachev3.Subscription, resp cachev3.DeltaResponse) cachev3.DeltaResponse {
	raw, ok := resp.(*cachev3.RawDeltaResponse)
	if !ok {
		return resp
	}
	return &sharedDeltaResponse{RawDeltaResponse: raw, shared: c, key: key, removed: removedNames(sub, raw.GetReturnedResources())}
}

// removedNames is what createDeltaResponse removes: of the names the
// stream was sent (and, unless wildcard, still subscribes to), those the
// response no longer returns.
func removedNames(sub cachev3.Subscription, next map[string]string) []string {
	var removed []string
	for name := range sub.ReturnedResources() {
		if _, ok := next[name]; ok {
			continue
		}
		if _, ok := sub.SubscribedResources()[name]; sub.IsWildcard() || ok {
			removed = append(removed, name)
		}
	}
	return removed
}

// sharedDeltaResponse is a delta response of the cache whose resources
// are shared with the other streams of its group.
type sharedDeltaResponse struct {
	*cachev3.RawDeltaResponse
	shared  *sharedResponses
	key     string // the cache entry it was built from
	removed []string
}

var _ cachev3.DeltaResponse = (*sharedDeltaResponse)(nil)

// GetDeltaDiscoveryResponse returns a new response, for this stream
// alone, carrying the shared marshalled resources.
func (r *sharedDeltaResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	typeURL := r.GetDeltaRequest().GetTypeUrl()
	raws := r.GetRawResources()
	entries := r.shared.deltaEntries(r.key, typeURL, raws, r.GetReturnedResources())
	resources := make([]*discoveryv3.Resource, 0, len(raws))
	for i, e := range entries {
		res, err := e.marshal(r.shared, typeURL, raws[i].Resource)
		if err != nil {
			return nil, err
		}
		resources = append(resources, res)
	}
	return &discoveryv3.DeltaDiscoveryResponse{
		Resources:         resources,
		RemovedResources:  r.removed,
		TypeUrl:           typeURL,
		SystemVersionInfo: r.SystemVersionInfo,
	}, nil
}

// deltaEntries returns the memo entry of each resource, at the version
// next gives it. A version that is not the group's current one (a late
// stream) gets an entry of its own, not remembered, so that the memo
// keeps current versions only. The current versions are read under c.mu,
// which SetSnapshot holds to forget replaced ones, so no replaced version
// is remembered after it.
func (c *sharedResponses) deltaEntries(entry, typeURL string, raws []types.ResourceWithTTL, next map[string]string) []*deltaResource {
	group := keyGroup(entry)
	c.mu.Lock()
	defer c.mu.Unlock()
	var current map[string]string
	if snap, err := c.SnapshotCache.GetSnapshot(entry); err == nil {
		current = snap.GetVersionMap(typeURL)
	}
	entries := make([]*deltaResource, len(raws))
	for i, raw := range raws {
		name := cachev3.GetResourceName(raw.Resource)
		key, version := deltaKey{group, typeURL, name}, next[name]
		e := c.deltaMemo[key]
		if e == nil || e.version != version {
			e = &deltaResource{name: name, version: version}
			if current[name] == version {
				c.deltaMemo[key] = e
			}
		}
		entries[i] = e
	}
	return entries
}

// marshal marshals the entry's resource the first time it is asked for.
func (e *deltaResource) marshal(c *sharedResponses, typeURL string, res types.Resource) (*discoveryv3.Resource, error) {
	e.once.Do(func() {
		var value []byte
		value, e.err = cachev3.MarshalResource(res)
		e.res = &discoveryv3.Resource{Name: e.name, Version: e.version, Resource: &anypb.Any{TypeUrl: typeURL, Value: value}}
		c.mu.Lock()
		c.marshals++
		c.mu.Unlock()
	})
	return e.res, e.err
}

// forgetDelta drops a group's memoized resources that snap does not
// carry at the same version. c.mu must be held.
func (c *sharedResponses) forgetDelta(group string, snap cachev3.ResourceSnapshot) {
	for k, e := range c.deltaMemo {
		if k.group != group {
			continue
		}
		if snap == nil || snap.GetVersionMap(k.typeURL)[k.name] != e.version {
			delete(c.deltaMemo, k)
		}
	}
}
