package ratelimiter

import (
	"cmp"
	"slices"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// recentEvents is how many aggregated over-limit events the event log
// remembers for the status page.
const recentEvents = 50

// RecentEvent is one limit refusing one key over an interval, as the
// status page lists it: the event log line's fields, without the
// descriptor (whose header values may be credentials).
type RecentEvent struct {
	Limit    string    `json:"limit"`
	Shadow   bool      `json:"shadow,omitempty"`
	Count    int64     `json:"count"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Route    string    `json:"route,omitempty"`
	ClientIP string    `json:"client_ip,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
}

func (ev *event) recent() RecentEvent {
	get := func(key string) string { v, _ := ev.descriptor.Get(key); return v }
	return RecentEvent{
		Limit: ev.limit.Name, Shadow: ev.shadow, Count: ev.count, First: ev.first, Last: ev.last,
		Route:    get(policy.DescriptorRoute),
		ClientIP: get(policy.DescriptorClientIP),
		ClientID: get(policy.DescriptorKey(policy.KeyPart{Dimension: policy.KeyClientID})),
	}
}

// Recent returns the last events, newest first: those of the interval
// still being aggregated (so the page need not wait for a flush), then
// those already written, at most recentEvents in all.
func (e *EventLog) Recent() []RecentEvent {
	e.mu.Lock()
	var out []RecentEvent
	for _, ev := range e.pending {
		out = append(out, ev.recent())
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b RecentEvent) int { return cmp.Compare(b.Last.UnixNano(), a.Last.UnixNano()) })
	out = append(out, e.recent.List()...)
	return out[:min(len(out), recentEvents)]
}
