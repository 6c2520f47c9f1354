package authz

import (
	"slices"
	"strings"
	"time"
)

// recentDenials is how many refusals the engine remembers for the status
// page; older ones are only in the log and the metrics.
const recentDenials = 50

// Denial is one refused request as the status page lists it: the same
// fields as the "authz denied" log line, never a credential.
type Denial struct {
	At       time.Time `json:"at"`
	Route    string    `json:"route"`
	Status   int       `json:"status"`
	Reason   string    `json:"reason"`
	Client   string    `json:"client,omitempty"`
	ClientIP string    `json:"client_ip,omitempty"`
}

// RecentDenials returns the last refusals, newest first.
func (e *Engine) RecentDenials() []Denial { return e.denials.List() }

// JWKSStatus is the health of one identity provider's key set.
type JWKSStatus struct {
	Issuer string `json:"issuer"`
	URI    string `json:"uri"`
	// Failing is set while the latest fetch failed; the last good keys
	// keep serving until Stale.
	Failing bool `json:"failing"`
	// Stale is set once the keys are older than max_stale while failing,
	// or the first fetch never succeeded: the provider's outage mode
	// applies.
	Stale     bool      `json:"stale"`
	FetchedAt time.Time `json:"fetched_at,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// JWKS returns the status of every JWKS fetched from a URL, by issuer.
// Key sets from files never fail and are not listed.
func (e *Engine) JWKS() []JWKSStatus {
	e.mu.Lock()
	sources := make([]*jwksSource, 0, len(e.sources))
	for _, s := range e.sources {
		if !s.static() {
			sources = append(sources, s)
		}
	}
	e.mu.Unlock()
	now := e.now()
	out := make([]JWKSStatus, 0, len(sources))
	for _, s := range sources {
		st := JWKSStatus{Issuer: s.issuer, URI: s.uri, Failing: true, Stale: true}
		if cur := s.current(); cur != nil {
			st.Failing, st.Stale, st.FetchedAt = cur.failing, cur.staleAt(now, s.maxStale), cur.fetchedAt
		}
		if p := s.lastErr.Load(); p != nil && st.Failing {
			st.Error = *p
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b JWKSStatus) int { return strings.Compare(a.Issuer+a.URI, b.Issuer+b.URI) })
	return out
}
