package xds

import (
	"cmp"
	"maps"
	"slices"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// ProxyStatus is what the control plane knows of one connected Envoy.
type ProxyStatus struct {
	NodeID string `json:"node_id"`
	Group  string `json:"group"`
	// Generation is the policy version the Envoy is being served (a
	// rollout may hold it on the previous one).
	Generation string `json:"generation,omitempty"`
	// Acked maps a resource type URL to the version the Envoy last
	// accepted.
	Acked map[string]string `json:"acked"`
	// LastNACK is the last configuration the Envoy rejected, if any.
	LastNACK *NACK `json:"last_nack,omitempty"`
	// Rejected maps a resource type URL to the configuration of that type
	// the Envoy rejected and has not accepted since: what it is being
	// re-offered with backoff.
	Rejected map[string]NACK `json:"rejected,omitempty"`
}

// NACK is a configuration an Envoy rejected.
type NACK struct {
	TypeURL string `json:"type_url"`
	// Version is the rejected version, when the control plane can tell.
	Version string    `json:"version,omitempty"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
	// Count is how many times in a row the Envoy rejected this version
	// (the first time, then once per re-offer).
	Count int `json:"count,omitempty"`
}

// proxyState is the live record behind a ProxyStatus; Server.mu guards it.
type proxyState struct {
	group   string
	key     string // the Envoy's cache key (proxyHash)
	streams int    // open streams of this node id
	// served is the snapshot set for this Envoy, of the policy version
	// generation; nil before the first.
	served      *cachev3.Snapshot
	generation  string
	servedAt    time.Time // when served was set
	connectedAt time.Time
	acked       map[string]string
	lastNACK    *NACK
	// rejected holds, by type URL, the version the Envoy rejected and has
	// not accepted since.
	rejected map[string]*NACK
	// pushed holds, by type URL, when a version this Envoy has not yet
	// acknowledged was pushed to its group, to measure push latency.
	pushed map[string]time.Time
}

// Proxies returns the status of every connected Envoy, by node id.
func (s *Server) Proxies() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.proxies))
	for id, p := range s.proxies {
		st := ProxyStatus{NodeID: id, Group: p.group, Generation: p.generation, Acked: maps.Clone(p.acked)}
		if p.lastNACK != nil {
			nack := *p.lastNACK
			st.LastNACK = &nack
		}
		for t, n := range p.rejected {
			if st.Rejected == nil {
				st.Rejected = map[string]NACK{}
			}
			st.Rejected[t] = *n
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ProxyStatus) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}
