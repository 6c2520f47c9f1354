package authz

import (
	"sync"
	"time"
)

// defaultTokenCacheSize bounds each provider's cache of verified tokens.
const defaultTokenCacheSize = 10_000

// tokenCache remembers verified tokens (by SHA-256, never the token) until
// they expire, so a client sending the same token again costs a map
// lookup instead of a signature check. Entries hold the key set
// generation that verified them: when the JWKS changes (a key removed),
// tokens are verified afresh. Guarded by a RWMutex: reads share it.
type tokenCache struct {
	max     int
	mu      sync.RWMutex
	entries map[digest]cachedToken
}

type cachedToken struct {
	id      *Identity
	expires time.Time // exp plus leeway
	gen     uint64
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: make(map[digest]cachedToken)}
}

func (c *tokenCache) get(key digest, now time.Time, gen uint64) (*Identity, bool) {
	if c.max == 0 {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[key]
	c.mu.RUnlock()
	if !ok || e.gen != gen || !now.Before(e.expires) {
		return nil, false
	}
	return e.id, true
}

func (c *tokenCache) put(key digest, id *Identity, expires time.Time, gen uint64, now time.Time) {
	if c.max == 0 {
		return // caching off (benchmarks measure verification this way)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[key] = cachedToken{id: id, expires: expires, gen: gen}
}

// evict drops expired entries, and if that frees too little, an eighth of
// the rest (Go's map order is random, so it is a random eighth).
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	drop := len(c.entries) - c.max*7/8
	for k := range c.entries {
		if drop <= 0 {
			return
		}
		delete(c.entries, k)
		drop--
	}
}

func (c *tokenCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
