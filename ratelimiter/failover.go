package ratelimiter

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is what a failover store does while its shared store is down.
type Mode string

// The failure modes (policy.FailureMode values).
const (
	FailOpen   Mode = "fail_open"
	FailClosed Mode = "fail_closed"
	Grace      Mode = "grace"
)

// probeEvery is how often, while degraded, one decision tries the shared
// store again; the others go straight to the failure mode, so a dead Redis
// costs no deadline per request and recovery is automatic.
const probeEvery = 250 * time.Millisecond

// FailoverOptions configure a failover store.
type FailoverOptions struct {
	Mode Mode
	// GracePeriod is how long Grace lasts before Then answers.
	GracePeriod time.Duration
	Then        Mode
	Log         *slog.Logger
	Metrics     *Metrics
	Now         func() time.Time
}

// failoverStore answers from the shared store while it answers, and from
// its failure mode while it does not. State (degraded since, next probe)
// is guarded by mu; the instance count is an atomic, written by the
// heartbeat loop.
//
// Only a call admitted in the current state may change it: each call
// takes the state's epoch when it starts, and its outcome moves the state
// only if the epoch is unchanged when it ends. While degraded, the only
// calls admitted are the probes, so recovery needs a probe's success; a
// call that was in flight when Redis failed cannot end the degraded mode
// by succeeding late, nor can one from before a recovery start another
// outage by failing late. One outage is one transition each way.
type failoverStore struct {
	shared Store
	local  *memoryStore
	opts   FailoverOptions

	instances atomic.Int64

	mu        sync.Mutex
	degraded  bool
	epoch     uint64 // counts state changes
	since     time.Time
	mode      Mode // the mode answering while degraded
	nextProbe time.Time
	// lastErr is the last error logged in this outage: a probe failing
	// for a new reason (the connection was lost, now the password is
	// refused) is logged, the same reason again is not.
	lastErr string
}

var _ Store = (*failoverStore)(nil)

// NewFailoverStore wraps a shared store with a failure mode.
func NewFailoverStore(shared Store, o FailoverOptions) Store {
	return newFailoverStore(shared, o)
}

func newFailoverStore(shared Store, o FailoverOptions) *failoverStore {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	f := &failoverStore{shared: shared, local: newMemoryStore(o.Now), opts: o}
	f.instances.Store(1)
	return f
}

// Apply implements Store.
func (f *failoverStore) Apply(ctx context.Context, charges []Charge) ([]Result, error) {
	now := f.opts.Now()
	mode, skip, epoch := f.skipShared(now)
	if skip {
		return f.fallback(ctx, mode, charges)
	}
	results, err := f.shared.Apply(ctx, charges)
	if err == nil {
		f.recovered(epoch)
		return results, nil
	}
	if ctx.Err() != nil {
		// The caller gave up first (Envoy's deadline passed while the
		// request waited in a frozen or overloaded Tollgate): Redis is not
		// to blame, so the store stays as it is instead of answering fresh
		// requests from its failure mode. The answer goes nowhere.
		return f.fallback(ctx, FailOpen, charges)
	}
	return f.fallback(ctx, f.failed(now, epoch, err), charges)
}

// skipShared says whether to go straight to the failure mode: degraded and
// not yet time to probe again. It returns the epoch a call to the shared
// store was admitted in.
func (f *failoverStore) skipShared(now time.Time) (Mode, bool, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded {
		return "", false, f.epoch
	}
	mode := f.currentMode(now)
	if now.Before(f.nextProbe) {
		return mode, true, f.epoch
	}
	f.nextProbe = now.Add(probeEvery)
	return mode, false, f.epoch
}

// currentMode is the mode answering now; grace ends after its period. mu
// is held.
func (f *failoverStore) currentMode(now time.Time) Mode {
	mode := f.opts.Mode
	if mode == Grace && now.Sub(f.since) >= f.opts.GracePeriod {
		mode = f.opts.Then
	}
	if mode != f.mode {
		f.opts.Log.Warn("rate limiting degraded: Redis unreachable", "mode", string(mode), "since", f.since)
		f.mode = mode
		f.opts.Metrics.setDegraded(string(mode))
	}
	return mode
}

// failed enters degraded mode (logged once) when the failed call was
// admitted while healthy, and returns the mode that answers it.
func (f *failoverStore) failed(now time.Time, epoch uint64, err error) Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded && epoch != f.epoch {
		// Admitted before a recovery: stale news, answered by the
		// configured mode without changing the state.
		return f.opts.Mode
	}
	if !f.degraded {
		f.degraded, f.since, f.mode = true, now, ""
		f.epoch++
		f.nextProbe = now.Add(probeEvery)
		f.opts.Log.Error("rate limiting entering degraded mode: Redis unreachable", "error", err, "on_failure", string(f.opts.Mode), "instances", f.instances.Load())
	} else if err.Error() != f.lastErr {
		f.opts.Log.Warn("rate limiting still degraded: a probe of Redis failed for another reason", "error", err)
	}
	f.lastErr = err.Error()
	return f.currentMode(now)
}

// recovered leaves degraded mode (logged once) when the successful call
// was a probe, admitted while degraded.
func (f *failoverStore) recovered(epoch uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded || epoch != f.epoch {
		return
	}
	f.opts.Log.Info("rate limiting recovered: Redis answers again", "degraded_for", f.opts.Now().Sub(f.since).Round(time.Millisecond).String())
	f.degraded, f.mode = false, ""
	f.epoch++
	f.opts.Metrics.setDegraded("")
}

// fallback answers in a failure mode.
func (f *failoverStore) fallback(ctx context.Context, mode Mode, charges []Charge) ([]Result, error) {
	results := make([]Result, len(charges))
	switch mode {
	case Grace:
		n := int(f.instances.Load())
		shared := make([]Charge, len(charges))
		for i, c := range charges {
			c.Rule = c.Rule.Share(n)
			shared[i] = c
		}
		results, err := f.local.Apply(ctx, shared)
		for i := range results {
			results[i].Fallback = true
		}
		return results, err
	case FailClosed:
		for i, c := range charges {
			results[i] = Result{Limit: c.Rule.Limit, Reset: time.Second, RetryAfter: time.Second, Fallback: true}
		}
	default:
		for i, c := range charges {
			results[i] = Result{Allowed: true, Limit: c.Rule.Limit, Remaining: c.Rule.Limit, Fallback: true}
		}
	}
	return results, nil
}

// Instances is the number of live rate-limit instances last seen.
func (f *failoverStore) Instances() int { return int(f.instances.Load()) }

// heartbeatEvery registers this instance in Redis periodically and keeps
// the count of live instances that grace mode divides limits by. Errors
// keep the last count: that is the point of remembering it.
func (f *failoverStore) heartbeatEvery(ctx context.Context, client redis.UniversalClient, id string, every time.Duration) {
	beat := func() {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if n, err := heartbeat(hctx, client, id, 3*every); err == nil {
			f.instances.Store(int64(n))
		}
	}
	beat()
	tick(ctx, every, func() {
		beat()
		f.local.Sweep()
	})
}
