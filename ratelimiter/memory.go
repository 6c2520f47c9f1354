package ratelimiter

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// memoryShards spreads keys over independently locked maps so that
// concurrent decisions on different keys rarely contend.
const memoryShards = 64

// memoryStore keeps counters in this process. Each shard's map is guarded
// by the shard's mutex; a decision locks the shards of its keys in index
// order (so two decisions never deadlock), decides, applies and unlocks,
// which makes it atomic. Expired keys are reclaimed by Sweep.
type memoryStore struct {
	now    func() time.Time
	seed   maphash.Seed
	shards [memoryShards]memoryShard
}

var _ Store = (*memoryStore)(nil)

type memoryShard struct {
	mu   sync.Mutex
	keys map[string]*memoryEntry
}

// memoryEntry is one key's state; which fields are used depends on the
// algorithm (the key names it, so one key never changes algorithm).
type memoryEntry struct {
	expires int64 // µs; the state is equivalent to a fresh key after this

	tat float64 // token bucket

	window, count int64 // fixed window

	// Sliding window: admitted times, oldest at ring[head], n of them.
	ring    []int64
	head, n int
}

// NewMemoryStore returns a store that keeps counters in memory, reading
// time from now (time.Now when nil).
func NewMemoryStore(now func() time.Time) Store {
	return newMemoryStore(now)
}

func newMemoryStore(now func() time.Time) *memoryStore {
	if now == nil {
		now = time.Now
	}
	s := &memoryStore{now: now, seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].keys = map[string]*memoryEntry{}
	}
	return s
}

func (s *memoryStore) shardOf(key string) int {
	return int(maphash.String(s.seed, key) % memoryShards)
}

// Apply implements Store.
func (s *memoryStore) Apply(_ context.Context, charges []Charge) ([]Result, error) {
	// Scratch space on the stack for the usual few charges.
	var shardBuf, lockBuf [8]int
	var entryBuf [8]*memoryEntry
	shards, locked, entries := shardBuf[:0], lockBuf[:0], entryBuf[:0]
	for _, c := range charges {
		shards = append(shards, s.shardOf(c.Key))
	}
	locked = append(locked, shards...)
	slices.Sort(locked)
	locked = slices.Compact(locked)
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	defer s.unlock(locked)
	return s.decide(charges, shards, entries), nil
}

func (s *memoryStore) unlock(locked []int) {
	for _, i := range locked {
		s.shards[i].mu.Unlock()
	}
}

// decide decides and, if every enforced charge admits, applies the
// charges. The shards of their keys are locked.
func (s *memoryStore) decide(charges []Charge, shards []int, entries []*memoryEntry) []Result {
	now := s.now().UnixMicro()
	results := make([]Result, len(charges))
	for i, c := range charges {
		entries = append(entries, s.entry(shards[i], c, now))
		results[i] = entries[i].decide(c, now)
	}
	if !admits(charges, results) {
		return results
	}
	for i, c := range charges {
		if results[i].Allowed {
			entries[i].apply(c, now)
		}
	}
	return results
}

// entry returns the live state of a key, creating it (or resetting an
// expired one) as needed. The shard is locked.
func (s *memoryStore) entry(shard int, c Charge, now int64) *memoryEntry {
	keys := s.shards[shard].keys
	e := keys[c.Key]
	switch {
	case e == nil:
		e = &memoryEntry{}
		keys[c.Key] = e
	case e.expires <= now:
		// Reuse the sliding window's ring: a busy key that keeps expiring
		// should not allocate anew each time.
		*e = memoryEntry{ring: e.ring}
	}
	return e
}

func (e *memoryEntry) decide(c Charge, now int64) Result {
	switch c.Rule.Algorithm {
	case TokenBucket:
		res, _ := gcra(c.Rule, e.tat, now, c.Hits)
		return res
	case FixedWindow:
		count := e.count
		if e.window != windowIndex(c.Rule, now) {
			count = 0
		}
		return fixedWindow(c.Rule, count, now, c.Hits)
	default:
		e.trim(c.Rule, now)
		return slidingWindow(c.Rule, int64(e.n), e.oldest(), now, c.Hits)
	}
}

func (e *memoryEntry) apply(c Charge, now int64) {
	switch c.Rule.Algorithm {
	case TokenBucket:
		_, e.tat = gcra(c.Rule, e.tat, now, c.Hits)
		e.expires = int64(e.tat) + 1
	case FixedWindow:
		if w := windowIndex(c.Rule, now); e.window != w {
			e.window, e.count = w, 0
		}
		e.count += c.Hits
		e.expires = (e.window + 1) * c.Rule.Period.Microseconds()
	default:
		if need := e.n + int(c.Hits); need > len(e.ring) || len(e.ring) > int(c.Rule.Limit) {
			e.resize(min(int(c.Rule.Limit), max(need, 2*len(e.ring), 8)))
		}
		for range c.Hits {
			e.ring[(e.head+e.n)%len(e.ring)] = now
			e.n++
		}
		e.expires = now + c.Rule.Period.Microseconds()
	}
}

// trim forgets the admitted times that have left the window: amortised
// O(1), as each time is forgotten once.
func (e *memoryEntry) trim(r Rule, now int64) {
	cutoff := now - r.Period.Microseconds()
	for e.n > 0 && e.ring[e.head] <= cutoff {
		e.head = (e.head + 1) % len(e.ring)
		e.n--
	}
}

func (e *memoryEntry) oldest() int64 {
	if e.n == 0 {
		return 0
	}
	return e.ring[e.head]
}

// resize makes the ring hold size times, keeping the newest. The ring
// grows by doubling up to the limit, so a key's memory follows the
// requests it admitted in its window, at most the limit; a policy change
// of the limit keeps the key's history.
func (e *memoryEntry) resize(size int) {
	limit := size
	ring := make([]int64, limit)
	keep := min(e.n, limit)
	for i := range keep {
		ring[i] = e.ring[(e.head+e.n-keep+i)%len(e.ring)]
	}
	e.ring, e.head, e.n = ring, 0, keep
}

// Sweep deletes every expired key, one shard at a time so decisions on
// other shards carry on. It returns the number of keys left.
func (s *memoryStore) Sweep() int {
	now := s.now().UnixMicro()
	left := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, e := range sh.keys {
			if e.expires <= now {
				delete(sh.keys, k)
			}
		}
		left += len(sh.keys)
		sh.mu.Unlock()
	}
	return left
}

// sweepEvery runs Sweep periodically until ctx ends.
func (s *memoryStore) sweepEvery(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() { s.Sweep() })
}

// tick calls fn every interval until ctx ends: the background upkeep of
// stores and caches (sweeps, heartbeats).
func tick(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
