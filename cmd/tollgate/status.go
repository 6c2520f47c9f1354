package main

import (
	"cmp"
	"encoding/json"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/internal/reloader"
	"github.com/tollgate/tollgate/ratelimiter"
	"github.com/tollgate/tollgate/xds"
)

// Status is the one model of the gateway's state behind /debug/status,
// `tollgate status` and the status page: what is serving, where it is
// applied, what is refused and what is degraded. Everything is read from
// what the components already keep; nothing here is a second source.
type Status struct {
	At       time.Time `json:"at"`
	Tollgate string    `json:"tollgate"`
	// Components are the parts of the control plane this process runs
	// (serve --only); the sections of the others stay empty.
	Components []string         `json:"components"`
	Generation policyGeneration `json:"generation"`
	Proxies    []proxyRow       `json:"proxies"`
	// Generations says, per generation, on how many of the connected
	// proxies it is applied.
	Generations []generationApplied `json:"generations"`
	// Rollout is the staged rollout's state, nil without one.
	Rollout         *Rollout                  `json:"rollout,omitempty"`
	Routes          []routeRow                `json:"routes"`
	Services        []serviceRow              `json:"services"`
	Denials         []authz.Denial            `json:"recent_denials"`
	RateLimitEvents []ratelimiter.RecentEvent `json:"recent_rate_limit_events"`
	Degraded        []degradedMode            `json:"degraded"`
}

// policyGeneration is the serving policy generation and the last refusal.
type policyGeneration struct {
	Version      string    `json:"version"`
	LoadedAt     time.Time `json:"loaded_at,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	RestoredFrom string    `json:"restored_from,omitempty"`
}

// proxyRow is one connected Envoy.
type proxyRow struct {
	NodeID string `json:"node_id"`
	Group  string `json:"group"`
	// Generation is the policy version the proxy has applied in full, ""
	// while it is applying or rejecting the serving one.
	Generation string    `json:"generation"`
	LastNACK   *xds.NACK `json:"last_nack,omitempty"`
	// Rejecting lists the resource types the proxy rejects now (their
	// last NACK not followed by an ACK).
	Rejecting []string `json:"rejecting,omitempty"`
}

// generationApplied is "applied on N of M proxies".
type generationApplied struct {
	Version string `json:"version"`
	Applied int    `json:"applied"`
	Proxies int    `json:"proxies"`
}

// degradedMode is a part of the gateway running in a failure mode.
type degradedMode struct {
	Component string `json:"component"`
	// Mode names the failure mode in effect (fail_open, jwks_stale, ...).
	Mode   string `json:"mode"`
	Detail string `json:"detail"`
}

// statusSources are what the model is assembled from. A component that
// does not run in this process leaves its sources nil; the model shows
// nothing for it. Each function is safe to call from any goroutine.
type statusSources struct {
	reloader   *reloader.Reloader
	gatherer   prometheus.Gatherer
	components []string

	proxies func() []xds.ProxyStatus
	applied func() map[string]string
	denials func() []authz.Denial
	jwks    func() []authz.JWKSStatus
	events  func() []ratelimiter.RecentEvent
	// rollout returns the staged rollout's state as any value whose JSON
	// has the Rollout shape (the rollout's own /debug/rollout), or nil.
	rollout func() any
}

// status assembles the model now.
func (s *statusSources) status() Status {
	st := Status{At: time.Now().UTC(), Tollgate: version, Components: s.components}
	if s.reloader != nil {
		st.Generation = servingGeneration(s.reloader)
		cfg := debugConfig(s.reloader)
		st.Routes, st.Services = cfg.Routes, cfg.Services
	}
	if s.proxies != nil {
		st.Proxies = proxyRows(s.proxies(), s.applied())
		st.Generations = appliedCounts(st.Generation.Version, st.Proxies)
	}
	if s.rollout != nil {
		st.Rollout = decodeRollout(s.rollout())
	}
	if s.denials != nil {
		st.Denials = s.denials()
	}
	if s.events != nil {
		st.RateLimitEvents = s.events()
	}
	st.Degraded = s.degraded()
	return st
}

func servingGeneration(rl *reloader.Reloader) policyGeneration {
	g := policyGeneration{LastError: rl.LastError()}
	if cur := rl.Current(); cur != nil {
		g.Version, g.LoadedAt, g.RestoredFrom = cur.Policy.Version, cur.LoadedAt, cur.RestoredFrom
	}
	return g
}

// proxyRows joins the proxies' status with the generation each applied.
func proxyRows(proxies []xds.ProxyStatus, applied map[string]string) []proxyRow {
	rows := make([]proxyRow, 0, len(proxies))
	for _, p := range proxies {
		row := proxyRow{NodeID: p.NodeID, Group: p.Group, Generation: applied[p.NodeID], LastNACK: p.LastNACK}
		for t := range p.Rejected {
			row.Rejecting = append(row.Rejecting, typeName(t))
		}
		slices.Sort(row.Rejecting)
		rows = append(rows, row)
	}
	return rows
}

// typeName is a resource type URL's short name ("Listener").
func typeName(typeURL string) string {
	for i := len(typeURL) - 1; i >= 0; i-- {
		if typeURL[i] == '.' || typeURL[i] == '/' {
			return typeURL[i+1:]
		}
	}
	return typeURL
}

// appliedCounts counts the proxies on each generation, the serving one
// first even when no proxy has it yet.
func appliedCounts(serving string, proxies []proxyRow) []generationApplied {
	if serving == "" {
		return nil
	}
	counts := map[string]int{serving: 0}
	for _, p := range proxies {
		if p.Generation != "" {
			counts[p.Generation]++
		}
	}
	out := make([]generationApplied, 0, len(counts))
	for v, n := range counts {
		out = append(out, generationApplied{Version: v, Applied: n, Proxies: len(proxies)})
	}
	slices.SortFunc(out, func(a, b generationApplied) int {
		if (a.Version == serving) != (b.Version == serving) {
			if a.Version == serving {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Version, b.Version)
	})
	return out
}

// decodeRollout reads the rollout's state through its JSON, so that the
// model depends on the documented shape of /debug/rollout, not on the
// rollout's Go types.
func decodeRollout(v any) *Rollout {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" {
		return nil
	}
	var r Rollout
	if err := json.Unmarshal(b, &r); err != nil {
		return &Rollout{State: "unknown", Reason: "unreadable rollout state: " + err.Error()}
	}
	return &r
}
