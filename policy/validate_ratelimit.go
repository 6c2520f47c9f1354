package policy

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Bounds that keep one limit's memory and arithmetic sane. A sliding
// window remembers one timestamp per admitted request, so its limit bounds
// the memory of each key; use a token bucket for larger limits.
const (
	MaxSlidingWindowLimit = 100_000
	maxCount              = 1_000_000_000
)

// Bounds on what one rate-limit call carries. Envoy sends one descriptor
// per limit a route names, holding a fixed handful of entries plus one per
// header in the limit's key; the rate-limit service refuses calls far
// beyond these (ratelimiter.MaxDescriptors), so a policy must stay within
// them for every call it causes to be decided.
const (
	// MaxRouteRateLimits is how many limits one route may name.
	MaxRouteRateLimits = 32
	// MaxKeyParts is how many parts one limit's key may have.
	MaxKeyParts = 8
)

// rateLimits validates the rate_limits, tiers and rate_limit_store
// sections and the routes' references to limits. It fills each limit's
// Parts and Tiers.
func (v *validator) rateLimits() {
	for _, name := range sortedKeys(v.p.RateLimits) {
		v.rateLimit(v.p.RateLimits[name])
	}
	for _, name := range sortedKeys(v.p.Tiers) {
		v.tier(v.p.Tiers[name])
	}
	v.limitStages()
	for _, l := range v.p.RateLimits {
		slices.Sort(l.Tiers)
		l.Tiers = slices.Compact(l.Tiers)
	}
	for i, r := range v.p.Routes {
		v.routeRateLimits(r, listPath("routes", i, r.Name)+".rate_limits")
	}
	if s := v.p.RateLimitStore; s != nil {
		v.rateLimitStore(s)
	}
}

func (v *validator) rateLimit(l *RateLimit) {
	path := mapPath("rate_limits", l.Name)
	if !nameRE.MatchString(l.Name) {
		v.errorf(l.Pos(), path, "%q is not a valid limit name: use lower-case letters, digits, '.', '_' and '-' (at most 63)", l.Name)
	}
	v.when(l, path)
	if len(l.Key) > MaxKeyParts {
		v.errorf(l.At("key"), path+".key", "a key has at most %d parts, got %d", MaxKeyParts, len(l.Key))
	}
	seen := map[KeyPart]bool{}
	for i, k := range l.Key {
		part, err := ParseKeyPart(k)
		if err != nil {
			v.errorf(l.At("key"), fmt.Sprintf("%s.key[%d]", path, i), "%v", err)
			continue
		}
		if seen[part] {
			v.errorf(l.At("key"), fmt.Sprintf("%s.key[%d]", path, i), "%q is listed twice", k)
			continue
		}
		if part.Dimension == KeyHeader && slices.Contains(v.credentialHeaders(), part.Header) {
			v.errorf(l.At("key"), fmt.Sprintf("%s.key[%d]", path, i), "%s carries a credential: authorization removes it before limits count, so the limit would never apply (and a secret must not name a counter); use client_id, which counts per API key id or JWT subject", part)
			continue
		}
		if part.Dimension == KeyHeader && v.p.GatewaySetHeader(part.Header) && !v.p.keptClientHeader(part.Header) {
			v.errorf(l.At("key"), fmt.Sprintf("%s.key[%d]", path, i), "%s is set or removed by the gateway before limits count (docs/policy.md, \"What services may trust\"), so the limit would count the gateway's value or never apply; use client_ip for the client's address, client_id for the caller", part)
			continue
		}
		seen[part] = true
		l.Parts = append(l.Parts, part)
	}
	algorithms := 0
	for _, f := range []string{"token_bucket", "sliding_window", "fixed_window"} {
		if l.Has(f) {
			algorithms++
		}
	}
	if algorithms != 1 {
		v.errorf(l.Pos(), path, "set exactly one of token_bucket, sliding_window and fixed_window")
	}
	if tb := l.TokenBucket; tb != nil {
		v.tokenBucket(tb, path+".token_bucket")
	}
	if w := l.SlidingWindow; w != nil {
		v.window(w, path+".sliding_window", MaxSlidingWindowLimit)
	}
	if w := l.FixedWindow; w != nil {
		v.window(w, path+".fixed_window", maxCount)
	}
}

// credentialHeaders are the lower-case headers the authz service reads a
// credential from, whether or not the policy configures that credential:
// Tollgate strips them before a service (or the rate limiter after
// authorization) sees the request.
func (v *validator) credentialHeaders() []string {
	out := []string{"authorization", strings.ToLower(DefaultAPIKeyHeader)}
	if a := v.p.Auth; a != nil && a.APIKeys != nil && a.APIKeys.Header != "" {
		out = append(out, strings.ToLower(a.APIKeys.Header))
	}
	return out
}

// keptClientHeader reports whether some listener keeps a client header
// (keep_client_headers) that the gateway otherwise removes: a limit may
// count by it, since behind that listener what is in front sets it.
func (p *Policy) keptClientHeader(name string) bool {
	for _, l := range p.Listeners {
		if slices.ContainsFunc(l.KeepClientHeaders, func(k string) bool { return strings.EqualFold(k, name) }) {
			return true
		}
	}
	return false
}

func (v *validator) when(l *RateLimit, path string) {
	switch tier, isTier := strings.CutPrefix(l.When, WhenTierPrefix); {
	case l.When == "", l.When == WhenAnonymous, l.When == WhenAuthenticated:
	case isTier && nameRE.MatchString(tier):
		if len(v.p.Tiers) > 0 && v.p.Tiers[tier] == nil {
			v.errorf(l.At("when"), path+".when", "unknown tier %q; the tiers section declares: %s", tier, strings.Join(sortedKeys(v.p.Tiers), ", "))
		}
		l.Tiers = append(l.Tiers, tier)
	default:
		v.errorf(l.At("when"), path+".when", "unknown condition %q; expected anonymous, authenticated or tier:NAME", l.When)
	}
}

func (v *validator) tokenBucket(tb *TokenBucket, path string) {
	if !tb.Has("rate") {
		v.errorf(tb.Pos(), path+".rate", "a token bucket needs a rate such as 10/s")
	} else if tb.Rate.Count > maxCount {
		v.errorf(tb.At("rate"), path+".rate", "the count must be at most %d", maxCount)
	}
	if tb.Has("burst") && (tb.Burst < 1 || tb.Burst > maxCount) {
		v.errorf(tb.At("burst"), path+".burst", "burst must be between 1 and %d, got %d", maxCount, tb.Burst)
	}
}

func (v *validator) window(w *Window, path string, maxLimit int) {
	if w.Limit < 1 || w.Limit > maxLimit {
		v.errorf(cmpPos(w, "limit"), path+".limit", "limit must be between 1 and %d, got %d", maxLimit, w.Limit)
	}
	if w.Window <= 0 {
		v.errorf(cmpPos(w, "window"), path+".window", "needs a positive window such as 1s or 1m")
	} else if w.Window.D()%1e6 != 0 {
		v.errorf(w.At("window"), path+".window", "must be a whole number of milliseconds")
	}
}

// cmpPos is the position of a field if it was written, else of the
// mapping that lacks it.
func cmpPos(s interface {
	Has(string) bool
	At(string) Pos
	Pos() Pos
}, field string) Pos {
	if s.Has(field) {
		return s.At(field)
	}
	return s.Pos()
}

func (v *validator) tier(t *Tier) {
	path := mapPath("tiers", t.Name)
	if !nameRE.MatchString(t.Name) {
		v.errorf(t.Pos(), path, "%q is not a valid tier name: use lower-case letters, digits, '.', '_' and '-' (at most 63)", t.Name)
	}
	for i, name := range t.RateLimits {
		lpath := fmt.Sprintf("%s.rate_limits[%d]", path, i)
		l, ok := v.p.RateLimits[name]
		switch {
		case !ok:
			v.errorf(t.At("rate_limits"), lpath, "unknown rate limit %q", name)
		case l.When == WhenAnonymous:
			v.errorf(t.At("rate_limits"), lpath, "rate limit %q applies to anonymous requests, which have no tier", name)
		case strings.HasPrefix(l.When, WhenTierPrefix) && l.When != WhenTierPrefix+t.Name:
			v.errorf(t.At("rate_limits"), lpath, "rate limit %q already says when: %s", name, l.When)
		default:
			l.Tiers = append(l.Tiers, t.Name)
		}
	}
}

func (v *validator) routeRateLimits(r *Route, path string) {
	if len(r.RateLimits) > MaxRouteRateLimits {
		v.errorf(r.At("rate_limits"), path, "a route names at most %d rate limits, got %d", MaxRouteRateLimits, len(r.RateLimits))
	}
	seen := map[string]bool{}
	for j, name := range r.RateLimits {
		switch {
		case v.p.RateLimits[name] == nil:
			v.errorf(r.At("rate_limits"), fmt.Sprintf("%s[%d]", path, j), "unknown rate limit %q", name)
		case seen[name]:
			v.errorf(r.At("rate_limits"), fmt.Sprintf("%s[%d]", path, j), "rate limit %q is listed twice", name)
		}
		seen[name] = true
	}
}

var failureModes = []FailureMode{FailOpen, FailClosed, Grace}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *validator) rateLimitStore(s *RateLimitStore) {
	path := "rate_limit_store"
	if s.OnFailure != "" && !slices.Contains(failureModes, s.OnFailure) {
		v.errorf(s.At("on_failure"), path+".on_failure", "unknown failure mode %q; expected fail_open, fail_closed or grace", s.OnFailure)
	}
	if s.Grace != nil {
		if s.OnFailure != Grace {
			v.errorf(s.At("grace"), path+".grace", "grace only applies with on_failure: grace")
		}
		if s.Grace.Has("period") && s.Grace.Period <= 0 {
			v.errorf(s.Grace.At("period"), path+".grace.period", "must be positive")
		}
		if t := s.Grace.Then; t != "" && t != FailOpen && t != FailClosed {
			v.errorf(s.Grace.At("then"), path+".grace.then", "unknown mode %q; expected fail_open or fail_closed", t)
		}
	}
	if r := s.Redis; r != nil {
		v.redisStore(r, path+".redis")
	} else if s.OnFailure != "" {
		v.errorf(s.At("on_failure"), path+".on_failure", "on_failure applies to a Redis store; set redis too")
	}
}

func (v *validator) redisStore(r *RedisStore, path string) {
	if (r.Address == "") == (len(r.Addresses) == 0) {
		v.errorf(r.Pos(), path, "set exactly one of address (one node) and addresses (Cluster or Sentinel)")
	}
	addrs := r.Addresses
	if r.Address != "" {
		addrs = []string{r.Address}
	}
	for i, a := range addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			v.errorf(cmpPos(r, "address"), fmt.Sprintf("%s.addresses[%d]", path, i), "%q is not host:port", a)
		}
	}
	if r.Has("timeout") && r.Timeout <= 0 {
		v.errorf(r.At("timeout"), path+".timeout", "must be positive")
	}
	v.redisPassword(r.Source, r.PasswordEnv, r.PasswordFile, path)
	if r.DB < 0 || r.DB > 15 {
		v.errorf(r.At("db"), path+".db", "db must be between 0 and 15")
	}
	if t := r.TLS; t != nil {
		v.redisTLS(t, path+".tls")
	}
	if s := r.Sentinel; s != nil {
		if r.SentinelMaster == "" {
			v.errorf(r.At("sentinel"), path+".sentinel", "sentinel credentials apply to Sentinels; set sentinel_master too")
		}
		v.redisPassword(s.Source, s.PasswordEnv, s.PasswordFile, path+".sentinel")
	}
}

// redisPassword checks where a Redis password comes from: at most one of
// an environment variable and a file. The file must exist (unless the
// policy is rebuilt from saved inputs, which never hold secrets); its
// content is not read here, so it never reaches a saved generation.
func (v *validator) redisPassword(s Source, env, file, path string) {
	if env != "" && !envNameRE.MatchString(env) {
		v.errorf(s.At("password_env"), path+".password_env", "%q is not an environment variable name", env)
	}
	if env != "" && file != "" {
		v.errorf(s.At("password_file"), path+".password_file", "set password_env or password_file, not both")
	}
	if file != "" {
		v.redisFileExists(s, "password_file", file, path)
	}
}

// redisTLS checks that the files TLS to Redis names exist; Tollgate reads
// them when it connects (the CA and server name when the store opens, the
// client certificate at every handshake).
func (v *validator) redisTLS(t *RedisTLS, path string) {
	if (t.Cert == "") != (t.Key == "") {
		v.errorf(t.Pos(), path, "set both cert and key (a client certificate), or neither")
	}
	for _, f := range [][2]string{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
		if f[1] != "" {
			v.redisFileExists(t.Source, f[0], f[1], path)
		}
	}
}

func (v *validator) redisFileExists(s Source, field, file, path string) {
	if v.p.reads.saved != nil {
		return
	}
	if _, err := os.Stat(resolvePath(s.At(field), file)); err != nil {
		v.errorf(s.At(field), path+"."+field, "cannot read %s: %s", file, pathErrorReason(err))
	}
}
