package ratelimiter

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// Limit is one policy limit compiled for deciding.
type Limit struct {
	Name   string
	Rule   Rule
	Parts  []policy.KeyPart
	When   string   // "", anonymous or authenticated
	Tiers  []string // empty: any tier
	Shadow bool
	// Headers asks for RateLimit-* headers on admitted responses.
	Headers bool
	// Format is the policy's rate-limit header format, the same for every
	// limit of a generation (see Decision.Headers).
	Format policy.RateLimitHeaderFormat
	// Type names what the limit counts by, for the event log: per-ip,
	// per-key, per-user, per-route, per-tier, per-header, or global.
	Type string

	// Precomputed by compileLimit so that a decision does no string
	// building beyond its storage keys.
	keyPrefix    string   // name|algorithm code
	entryKeys    []string // the descriptor entry of each of Parts
	legacyPolicy string   // draft-06's RateLimit-Policy value
	policyItem   string   // the limit's item of the draft's RateLimit-Policy
	sfName       string   // the name as an sf-string, RateLimit's item
}

// tierEntry is the descriptor entry that carries the caller's tier.
var tierEntry = policy.DescriptorKey(policy.KeyPart{Dimension: policy.KeyTier})

// Limiter is one policy generation's limits over a store. It is immutable
// once compiled; the Service swaps whole Limiters atomically.
type Limiter struct {
	version string
	limits  map[string]*Limit
	store   Store
	// remote says the store is shared (Redis), so the local over-limit
	// cache saves round trips.
	remote bool
}

// Compile builds the limiter of a policy generation over a store.
func Compile(p *policy.Policy, store Store, remote bool) (*Limiter, error) {
	l := &Limiter{version: p.Version, limits: map[string]*Limit{}, store: store, remote: remote}
	for _, name := range p.RateLimitNames() {
		compiled, err := compileLimit(p.RateLimits[name], p.RateLimitHeaders.Format)
		if err != nil {
			return nil, fmt.Errorf("rate limit %q: %w", name, err)
		}
		l.limits[name] = compiled
	}
	return l, nil
}

func compileLimit(pl *policy.RateLimit, format policy.RateLimitHeaderFormat) (*Limit, error) {
	l := &Limit{Name: pl.Name, Parts: pl.Parts, Tiers: pl.Tiers, Shadow: pl.Shadow, Headers: pl.Headers, Format: format, Type: limitType(pl.Parts)}
	if pl.When == policy.WhenAnonymous || pl.When == policy.WhenAuthenticated {
		l.When = pl.When
	}
	switch {
	case pl.TokenBucket != nil:
		tb := pl.TokenBucket
		l.Rule = Rule{Algorithm: TokenBucket, Limit: int64(tb.Burst), Period: tb.Rate.Per, Rate: int64(tb.Rate.Count)}
	case pl.SlidingWindow != nil:
		l.Rule = Rule{Algorithm: SlidingWindow, Limit: int64(pl.SlidingWindow.Limit), Period: pl.SlidingWindow.Window.D()}
	case pl.FixedWindow != nil:
		l.Rule = Rule{Algorithm: FixedWindow, Limit: int64(pl.FixedWindow.Limit), Period: pl.FixedWindow.Window.D()}
	default:
		return nil, fmt.Errorf("no algorithm")
	}
	if l.Rule.Limit < 1 || l.Rule.Period < time.Millisecond || (l.Rule.Algorithm == TokenBucket && l.Rule.Rate < 1) {
		return nil, fmt.Errorf("limit, rate and period must be positive")
	}
	l.keyPrefix = l.Name + "|" + l.Rule.Algorithm.code()
	l.entryKeys = make([]string, len(l.Parts))
	for i, p := range l.Parts {
		l.entryKeys[i] = policy.DescriptorKey(p)
	}
	l.legacyPolicy = legacyPolicyHeader(l)
	l.sfName = string(appendSFString(nil, l.Name))
	l.policyItem = draftPolicyItem(l)
	return l, nil
}

// limitType names a limit by the most specific thing it counts by.
func limitType(parts []policy.KeyPart) string {
	order := []policy.KeyDimension{policy.KeyUser, policy.KeyClientID, policy.KeyClientIP, policy.KeyHeader, policy.KeyTier, policy.KeyRoute}
	names := map[policy.KeyDimension]string{
		policy.KeyUser: "per-user", policy.KeyClientID: "per-key", policy.KeyClientIP: "per-ip",
		policy.KeyHeader: "per-header", policy.KeyTier: "per-tier", policy.KeyRoute: "per-route",
	}
	for _, d := range order {
		if slices.ContainsFunc(parts, func(p policy.KeyPart) bool { return p.Dimension == d }) {
			return names[d]
		}
	}
	return "global"
}

// Limit returns a compiled limit by name.
func (l *Limiter) Limit(name string) *Limit { return l.limits[name] }

// Version is the policy version the limiter was compiled from.
func (l *Limiter) Version() string { return l.version }

// Entry is one key/value of a descriptor.
type Entry struct{ Key, Value string }

// Descriptor is what Envoy sends for one limit on one request.
type Descriptor []Entry

// Get returns the value of an entry and whether it is present.
func (d Descriptor) Get(key string) (string, bool) {
	for _, e := range d {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}

// match finds the limit a descriptor names and, if it applies to this
// request, the storage key it counts under.
func (l *Limiter) match(d Descriptor) (*Limit, string, bool) {
	name, _ := d.Get(policy.DescriptorLimit)
	lim := l.limits[name]
	if lim == nil || !lim.applies(d) {
		return lim, "", false
	}
	key, ok := lim.key(d)
	return lim, key, ok
}

// applies evaluates the limit's condition on the identity entries.
func (lim *Limit) applies(d Descriptor) bool {
	auth, _ := d.Get(policy.DescriptorAuth)
	authenticated := policy.Authenticated(auth)
	switch {
	case lim.When == policy.WhenAnonymous && authenticated:
		return false
	case lim.When == policy.WhenAuthenticated && !authenticated:
		return false
	}
	if len(lim.Tiers) > 0 {
		tier, _ := d.Get(tierEntry)
		return slices.Contains(lim.Tiers, tier)
	}
	return true
}

// maxKeyLen bounds a storage key; longer keys (long header values) are
// hashed so a client cannot make Redis store huge keys.
const maxKeyLen = 200

// key is the storage key of the descriptor's values for the limit's key
// parts. A part with no value means the limit does not apply: a request
// without the header a limit counts by is not counted by it.
func (lim *Limit) key(d Descriptor) (string, bool) {
	// Collect the values first so the key is built in one allocation of
	// its exact size. Limits have few parts; the array stays on the stack.
	var buf [8]string
	values := buf[:0]
	size := len(lim.keyPrefix)
	for i, p := range lim.Parts {
		v, ok := d.Get(lim.entryKeys[i])
		if !ok || v == "" {
			return "", false
		}
		if p.Dimension == policy.KeyHeader {
			// Header values may be credentials: never store them.
			v = hashValue(v)
		}
		values = append(values, v)
		size += 1 + len(v)
	}
	if size > maxKeyLen {
		return lim.hashedKey(values), true
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(lim.keyPrefix)
	for _, v := range values {
		b.WriteByte('|')
		b.WriteString(v)
	}
	return b.String(), true
}

// hashedKey is the storage key of values too long to store as they are.
func (lim *Limit) hashedKey(values []string) string {
	h := sha256.New()
	h.Write([]byte(lim.keyPrefix))
	for _, v := range values {
		h.Write([]byte{'|'})
		h.Write([]byte(v))
	}
	sum := h.Sum(nil)
	return lim.keyPrefix + "|#" + hex.EncodeToString(sum[:16])
}
