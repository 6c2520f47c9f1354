package ratelimiter

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// Service decides requests with the current Limiter. The Limiter is
// published through an atomic pointer: a policy reload swaps it while
// decisions in flight finish with the one they loaded.
type Service struct {
	limiter atomic.Pointer[Limiter]
	now     func() time.Time
	cache   *overLimitCache
	events  *EventLog
	metrics *Metrics
	log     *slog.Logger
}

// NewService returns a service with no limiter yet; Swap installs one.
// events and metrics may be nil.
func NewService(log *slog.Logger, events *EventLog, metrics *Metrics, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	return &Service{now: now, cache: newOverLimitCache(), events: events, metrics: metrics, log: log}
}

// Swap makes l the limiter that decides from now on.
func (s *Service) Swap(l *Limiter) { s.limiter.Store(l) }

// Limiter is the limiter deciding now, or nil before the first policy.
func (s *Service) Limiter() *Limiter { return s.limiter.Load() }

// Request is one ShouldRateLimit call in plain terms.
type Request struct {
	Descriptors []Descriptor
	// Hits is how many requests this call counts for (Envoy's
	// hits_addend); 0 means 1.
	Hits int64
}

// Status is the verdict for one descriptor of a request.
type Status struct {
	// Limit is the limit the descriptor named, nil if unknown; Applied
	// says whether it applied to this request.
	Limit   *Limit
	Applied bool
	Key     string
	Result  Result
}

// Decision is the answer to a Request.
type Decision struct {
	Allowed  bool
	Statuses []Status
	// Refused is the index of the status that refused the request, or -1.
	Refused int
	// Local says the refusal came from the local over-limit cache.
	Local bool
}

// smallDecision is how many statuses a Decision holds without a second
// allocation; Envoy sends one descriptor per limit on a route, rarely more.
const smallDecision = 4

// decisionWithRoom is a Decision and room for its statuses and the
// charges deciding them, allocated together.
type decisionWithRoom struct {
	Decision
	statuses [smallDecision]Status
	charges  [smallDecision]Charge
	index    [smallDecision]int
}

// newDecision returns an admitting decision of n statuses, with empty
// charges and index slices of capacity n.
func newDecision(n int) (*Decision, []Charge, []int) {
	if n > smallDecision {
		return &Decision{Allowed: true, Refused: -1, Statuses: make([]Status, n)}, make([]Charge, 0, n), make([]int, 0, n)
	}
	b := &decisionWithRoom{}
	b.Decision = Decision{Allowed: true, Refused: -1, Statuses: b.statuses[:n:n]}
	return &b.Decision, b.charges[:0:n], b.index[:0:n]
}

// ErrNoPolicy is returned before the first policy generation is loaded.
var ErrNoPolicy = errors.New("no rate-limit policy loaded yet")

// Decide answers a request. Store failures are handled by the store's
// failure mode, so an error here means no policy is loaded.
func (s *Service) Decide(ctx context.Context, req Request) (*Decision, error) {
	l := s.limiter.Load()
	if l == nil {
		return nil, ErrNoPolicy
	}
	hits := max(req.Hits, 1)
	// index[i] is the status charges[i] decides.
	d, charges, index := newDecision(len(req.Descriptors))
	for i, desc := range req.Descriptors {
		lim, key, ok := l.match(desc)
		d.Statuses[i] = Status{Limit: lim, Applied: ok, Key: key}
		if ok {
			charges = append(charges, Charge{Key: key, Rule: lim.Rule, Hits: hits, Shadow: lim.Shadow})
			index = append(index, i)
		}
	}
	if len(charges) == 0 {
		return d, nil
	}
	// Only the over-limit cache of a shared store needs the time; the
	// memory store reads its own clock once.
	var now time.Time
	if l.remote {
		now = s.now()
		if s.refuseFromCache(d, charges, index, now) {
			s.record(d, req)
			return d, nil
		}
	}
	results, err := l.store.Apply(ctx, charges)
	if err != nil {
		// The failover store turns store errors into its mode's answers;
		// a bare store that fails admits, as Envoy would without us.
		s.log.Warn("rate-limit store error; admitting", "error", err)
		return &Decision{Allowed: true, Refused: -1, Statuses: d.Statuses}, nil
	}
	for j, r := range results {
		i := index[j]
		d.Statuses[i].Result = r
		if !r.Allowed && !charges[j].Shadow {
			if d.Allowed {
				d.Allowed, d.Refused = false, i
			}
			if l.remote && r.RetryAfter > 0 && !r.Fallback {
				s.cache.add(charges[j].Key, now.Add(cacheFor(r)))
			}
		}
	}
	s.record(d, req)
	return d, nil
}

// tentativeCacheFor bounds how long a tentative refusal (Result.Tentative)
// is answered from the cache: a refund undoes a charge within a round
// trip, so a wrongly refused key is admitted again this soon, while a
// client hammering a key over its limit still costs at most a few Redis
// calls a second.
const tentativeCacheFor = 100 * time.Millisecond

// cacheFor is how long a refusal is answered from the cache.
func cacheFor(r Result) time.Duration {
	if r.Tentative {
		return min(r.RetryAfter, tentativeCacheFor)
	}
	return r.RetryAfter
}

// refuseFromCache answers without the store when a key is known to be
// over its limit. Nothing is charged, as for any refusal.
func (s *Service) refuseFromCache(d *Decision, charges []Charge, index []int, now time.Time) bool {
	for j, c := range charges {
		if c.Shadow {
			continue
		}
		until, ok := s.cache.get(c.Key, now)
		if !ok {
			continue
		}
		for k, other := range charges {
			// The others are not asked: report them as not charged.
			d.Statuses[index[k]].Result = Result{Allowed: true, Limit: other.Rule.Limit}
		}
		i := index[j]
		retry := until.Sub(now)
		d.Statuses[i].Result = Result{Limit: c.Rule.Limit, Reset: retry, RetryAfter: retry}
		d.Allowed, d.Refused, d.Local = false, i, true
		return true
	}
	return false
}

// record counts the decision and logs its refusals.
func (s *Service) record(d *Decision, req Request) {
	for i := range d.Statuses {
		st := &d.Statuses[i]
		if !st.Applied {
			continue
		}
		var r result
		switch {
		case !st.Result.Allowed && st.Limit.Shadow:
			r = resultShadowRefused
		case !st.Result.Allowed:
			r = resultRefused
		case d.Allowed:
			r = resultAdmitted
		default:
			// Decided (or skipped) but not charged: another limit refused.
			r = resultNotCharged
		}
		s.metrics.decision(st.Limit.Name, r)
		if !st.Result.Allowed && s.events != nil {
			s.events.Add(st.Limit, st.Key, req.Descriptors[i], st.Limit.Shadow)
		}
	}
}

// Run forgets expired entries of the over-limit cache periodically until
// ctx ends, so its memory follows the keys currently refused.
func (s *Service) Run(ctx context.Context) {
	tick(ctx, 10*time.Second, func() { s.cache.sweep(s.now()) })
}
