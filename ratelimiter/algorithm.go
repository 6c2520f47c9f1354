package ratelimiter

import (
	"math"
	"time"
)

// Algorithm is how a rule counts.
type Algorithm uint8

// The algorithms.
const (
	// TokenBucket is GCRA: one theoretical arrival time per key, exact, no
	// background refill.
	TokenBucket Algorithm = iota + 1
	// SlidingWindow remembers the time of each admitted request in the
	// last window (at most Limit of them), so it is exact at any instant.
	SlidingWindow
	// FixedWindow counts per window aligned to the Unix epoch, like
	// envoyproxy/ratelimit.
	FixedWindow
)

// code is a short name used in storage keys, so that a limit that changes
// algorithm never reads another algorithm's state.
func (a Algorithm) code() string {
	switch a {
	case TokenBucket:
		return "tb"
	case SlidingWindow:
		return "sw"
	case FixedWindow:
		return "fw"
	}
	return "??"
}

// Rule is everything a store needs to decide for one key.
type Rule struct {
	Algorithm Algorithm
	// Limit is the burst of a token bucket, or the requests per window.
	Limit int64
	// Period is the window; for a token bucket, the time in which Rate
	// tokens are earned.
	Period time.Duration
	// Rate is a token bucket's tokens per Period.
	Rate int64
}

// Share is the rule one of n instances enforces alone while Redis is
// unreachable: its share of the limit (and of the rate), at least 1.
func (r Rule) Share(n int) Rule {
	if n <= 1 {
		return r
	}
	share := func(v int64) int64 { return max(1, v/int64(n)) }
	r.Limit = share(r.Limit)
	if r.Algorithm == TokenBucket {
		r.Rate = share(r.Rate)
	}
	return r
}

// interval is a token bucket's emission interval in microseconds: the time
// one token takes to earn.
func (r Rule) interval() float64 { return float64(r.Period.Microseconds()) / float64(r.Rate) }

// Result is one rule's verdict for one key.
type Result struct {
	Allowed bool
	// Limit and Remaining are what the rate-limit headers report (the
	// draft's q and r, or RateLimit-Limit and RateLimit-Remaining).
	Limit     int64
	Remaining int64
	// Reset is when the key's quota is full again (token bucket), or when
	// the next slot frees (windows).
	Reset time.Duration
	// RetryAfter is, for a refusal, how long until the same request would
	// be admitted.
	RetryAfter time.Duration
	// Fallback says a failure mode answered, not the shared store; such
	// answers are never cached.
	Fallback bool
	// Tentative says a refusal may be due to another decision's charge
	// that is about to be refunded (Redis Cluster, see cluster.go); it is
	// cached for tentativeCacheFor at most.
	Tentative bool
}

func micros(us float64) time.Duration { return time.Duration(math.Ceil(us)) * time.Microsecond }

// gcra decides a token bucket. tat is the key's theoretical arrival time
// (µs; 0 for a new key); it returns the new one to store if admitted.
// Both memory and the Redis script compute exactly this, in float64.
func gcra(r Rule, tat float64, now int64, hits int64) (Result, float64) {
	t := r.interval()
	tau := t * float64(r.Limit)
	n := float64(now)
	if tat < n {
		tat = n
	}
	newTAT := tat + t*float64(hits)
	if newTAT-n > tau {
		return Result{
			Limit:      r.Limit,
			Remaining:  max(0, int64(math.Floor((tau-(tat-n))/t))),
			Reset:      micros(tat - n),
			RetryAfter: micros(newTAT - n - tau),
		}, tat
	}
	return Result{
		Allowed:   true,
		Limit:     r.Limit,
		Remaining: int64(math.Floor((tau - (newTAT - n)) / t)),
		Reset:     micros(newTAT - n),
	}, newTAT
}

// fixedWindow decides a fixed window given the count already in the
// window that now falls in. The window is aligned to the Unix epoch, as in
// envoyproxy/ratelimit, so every instance agrees on its edges.
func fixedWindow(r Rule, count, now, hits int64) Result {
	period := r.Period.Microseconds()
	reset := time.Duration(period-now%period) * time.Microsecond
	res := Result{Limit: r.Limit, Reset: reset}
	if count+hits > r.Limit {
		res.Remaining = max(0, r.Limit-count)
		res.RetryAfter = reset
		return res
	}
	res.Allowed = true
	res.Remaining = r.Limit - count - hits
	return res
}

// windowIndex is the fixed window now falls in.
func windowIndex(r Rule, now int64) int64 { return now / r.Period.Microseconds() }

// slidingWindow decides a sliding window given the admitted requests still
// inside it (count) and the oldest of them (µs). A refused request waits
// for the oldest to leave the window.
func slidingWindow(r Rule, count, oldest, now, hits int64) Result {
	period := r.Period.Microseconds()
	if count == 0 {
		oldest = now
	}
	res := Result{Limit: r.Limit}
	if count+hits > r.Limit {
		res.Remaining = max(0, r.Limit-count)
		res.Reset = time.Duration(max(1, oldest+period-now)) * time.Microsecond
		res.RetryAfter = res.Reset
		return res
	}
	res.Allowed = true
	res.Remaining = r.Limit - count - hits
	res.Reset = time.Duration(max(1, oldest+period-now)) * time.Microsecond
	return res
}
