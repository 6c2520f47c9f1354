package xds

import (
	"slices"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// Serving is the version of the policy the server is serving, or "" before
// the first Update.
func (s *Server) Serving() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current.policy == nil {
		return ""
	}
	return s.current.policy.Version
}

// Applied returns, by node id, the policy version each connected Envoy has
// applied in full: the generation it is served (during a staged rollout,
// the newest or the previous one) when every resource type the Envoy has
// acknowledged is at that snapshot's version, else "" (still applying, or
// rejecting). Acknowledged versions are per type content
// hashes, so this is where they are tied back to a policy generation.
//
// Types the Envoy never acknowledged are not counted: an Envoy asks for
// secrets, say, only when a listener needs them.
func (s *Server) Applied() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.proxies))
	if s.current.policy == nil {
		return out
	}
	for id, p := range s.proxies {
		if onSnapshot(p, p.served) {
			out[id] = p.generation
		} else {
			out[id] = ""
		}
	}
	return out
}

// onSnapshot reports whether an Envoy acknowledged a group's snapshot: at
// least its listeners and clusters, and every other type it acknowledged
// at the snapshot's version.
func onSnapshot(p *proxyState, snap *cachev3.Snapshot) bool {
	if snap == nil {
		return false
	}
	for _, t := range []string{resourcev3.ListenerType, resourcev3.ClusterType} {
		if _, ok := p.acked[t]; !ok {
			return false
		}
	}
	for t, v := range p.acked {
		if slices.Contains(servedTypes, t) && snap.GetVersion(t) != v {
			return false
		}
	}
	return true
}
