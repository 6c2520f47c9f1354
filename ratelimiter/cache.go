package ratelimiter

import (
	"hash/maphash"
	"sync"
	"time"
)

const cacheShards = 16

// overLimitCache remembers keys a shared store said are over their limit
// until some time, so that a client hammering a refused key costs no Redis
// round trip. It is exact: a refusal charges nothing, so the key stays over
// its limit at least until then. Each shard's map is guarded by its mutex.
type overLimitCache struct {
	seed   maphash.Seed
	shards [cacheShards]struct {
		mu    sync.Mutex
		until map[string]time.Time
	}
}

func newOverLimitCache() *overLimitCache {
	c := &overLimitCache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].until = map[string]time.Time{}
	}
	return c
}

func (c *overLimitCache) shard(key string) int {
	return int(maphash.String(c.seed, key) % cacheShards)
}

func (c *overLimitCache) add(key string, until time.Time) {
	sh := &c.shards[c.shard(key)]
	sh.mu.Lock()
	sh.until[key] = until
	sh.mu.Unlock()
}

// get returns when key stops being over its limit, if that is after now.
// An expired entry is deleted on the way.
func (c *overLimitCache) get(key string, now time.Time) (time.Time, bool) {
	sh := &c.shards[c.shard(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	until, ok := sh.until[key]
	if ok && !until.After(now) {
		delete(sh.until, key)
		return time.Time{}, false
	}
	return until, ok
}

// sweep deletes expired entries, so memory follows the keys currently
// over their limit.
func (c *overLimitCache) sweep(now time.Time) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k, until := range sh.until {
			if !until.After(now) {
				delete(sh.until, k)
			}
		}
		sh.mu.Unlock()
	}
}
