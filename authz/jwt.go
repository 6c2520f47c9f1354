package authz

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/tollgate/tollgate/policy"
)

// provider verifies the tokens of one issuer. It belongs to one policy
// generation; its key source outlives generations (see jwksManager).
type provider struct {
	issuer    string
	audiences []string
	algs      []string
	leeway    time.Duration
	maxStale  time.Duration
	outage    policy.OutageMode
	scopes    []string // claim paths
	roles     []string
	tier      []string
	headers   []claimHeader
	required  [][]string
	source    *jwksSource
	cache     *tokenCache
	metrics   *metrics
}

type claimHeader struct {
	path   []string
	header string
}

func newProvider(j *policy.JWTProvider, src *jwksSource, m *metrics) *provider {
	p := &provider{
		issuer: j.Issuer, audiences: j.Audiences, algs: j.Algorithms,
		leeway: j.Leeway.D(), maxStale: j.MaxStale.D(), outage: j.Outage,
		scopes: splitPath(j.ScopesClaim), roles: splitPath(j.RolesClaim), tier: splitPath(j.TierClaim),
		source: src, cache: newTokenCache(defaultTokenCacheSize), metrics: m,
	}
	for c, h := range j.ClaimsToHeaders {
		p.headers = append(p.headers, claimHeader{path: splitPath(c), header: strings.ToLower(h)})
	}
	slices.SortFunc(p.headers, func(a, b claimHeader) int { return strings.Compare(a.header, b.header) })
	for _, c := range j.RequiredClaims {
		p.required = append(p.required, splitPath(c))
	}
	return p
}

func splitPath(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ".")
}

// tokenFailure is why a token was refused: a reason for logs and
// metrics, and whether it is the identity provider's fault (503) rather
// than the token's (401).
type tokenFailure struct {
	reason string
	outage bool
}

// stale reports the outage failure of a provider whose key set is
// missing, or failing to refresh and older than max_stale while its
// outage mode is deny.
func (p *provider) stale(st *jwksState, now time.Time) *tokenFailure {
	if st == nil {
		return &tokenFailure{reason: "jwks_unavailable", outage: true}
	}
	if !p.source.static() && st.staleAt(now, p.maxStale) && p.outage == policy.OutageDeny {
		return &tokenFailure{reason: "jwks_stale", outage: true}
	}
	return nil
}

// cached returns the identity of a token this provider verified before,
// while it is unexpired and the key set unchanged. hit is false when the
// token is not in the cache.
func (p *provider) cached(key digest, now time.Time) (id *Identity, fail *tokenFailure, hit bool) {
	st := p.source.current()
	if st == nil {
		return nil, nil, false
	}
	id, ok := p.cache.get(key, now, st.keys.gen)
	if !ok {
		return nil, nil, false
	}
	if f := p.stale(st, now); f != nil {
		return nil, f, true
	}
	return id, nil, true
}

// verify checks a token of this provider (not in its cache) and returns
// the identity it proves, caching it until the token expires.
func (p *provider) verify(key digest, t *parsedToken, now time.Time) (*Identity, *tokenFailure) {
	st := p.source.current()
	if f := p.stale(st, now); f != nil {
		return nil, f
	}
	exp, fail := p.check(t, st.keys, now)
	if fail != nil {
		return nil, fail
	}
	id := p.identity(t.claims)
	p.cache.put(key, id, exp.Add(p.leeway), st.keys.gen, now)
	return id, nil
}

// check verifies the signature and the registered claims, returning the
// token's expiry.
func (p *provider) check(t *parsedToken, ks *keySet, now time.Time) (time.Time, *tokenFailure) {
	alg := t.header.Alg
	switch {
	case !slices.Contains(p.algs, alg):
		// Covers "none" and HS256-with-the-RSA-public-key: neither is
		// ever in an allowlist (validation refuses them).
		return time.Time{}, &tokenFailure{reason: "alg_not_allowed"}
	case len(t.header.Crit) > 0 || t.header.B64 != nil:
		return time.Time{}, &tokenFailure{reason: "unsupported_header"}
	}
	if f := p.verifySignature(t, ks); f != nil {
		return time.Time{}, f
	}
	return p.checkClaims(t.claims, now)
}

func (p *provider) verifySignature(t *parsedToken, ks *keySet) *tokenFailure {
	alg := t.header.Alg
	candidates := ks.all
	if t.header.Kid != "" {
		k := ks.byKid[t.header.Kid]
		if k == nil {
			// Perhaps the provider rotated: refetch in the background.
			// This request fails; one after the refetch passes.
			p.source.refetch()
			return &tokenFailure{reason: "unknown_kid"}
		}
		candidates = []*publicKey{k}
	}
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return &tokenFailure{reason: "alg_not_allowed"}
	}
	typeMatched := false
	for _, k := range candidates {
		if !keyFits(k, alg) {
			continue
		}
		typeMatched = true
		if verifier.Verify(t.signingInput, t.signature, k.raw) == nil {
			return nil
		}
	}
	if !typeMatched {
		return &tokenFailure{reason: "key_alg_mismatch"}
	}
	return &tokenFailure{reason: "bad_signature"}
}

// keyFits reports whether a key may verify a signature of alg: the key
// type must be the algorithm's (RSA for RS/PS, the matching curve for ES,
// Ed25519 for EdDSA), and a key that names its own alg must name this one.
func keyFits(k *publicKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pub := k.raw.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		return want != nil && pub.Curve == want
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// checkClaims checks iss, exp (required), nbf, iat, aud and the required
// claims, with the provider's leeway.
func (p *provider) checkClaims(c map[string]any, now time.Time) (time.Time, *tokenFailure) {
	if iss, _ := c["iss"].(string); iss != p.issuer {
		return time.Time{}, &tokenFailure{reason: "wrong_issuer"}
	}
	exp, ok := numericDate(c, "exp")
	if !ok {
		return time.Time{}, &tokenFailure{reason: "no_expiry"}
	}
	if !now.Before(exp.Add(p.leeway)) {
		return time.Time{}, &tokenFailure{reason: "expired"}
	}
	if nbf, ok := numericDate(c, "nbf"); ok && now.Add(p.leeway).Before(nbf) {
		return time.Time{}, &tokenFailure{reason: "not_yet_valid"}
	}
	if iat, ok := numericDate(c, "iat"); ok && now.Add(p.leeway).Before(iat) {
		return time.Time{}, &tokenFailure{reason: "issued_in_future"}
	}
	for _, name := range []string{"nbf", "iat"} {
		if _, present := c[name]; present {
			if _, ok := numericDate(c, name); !ok {
				return time.Time{}, &tokenFailure{reason: "bad_" + name}
			}
		}
	}
	if len(p.audiences) > 0 && !p.audienceOK(c["aud"]) {
		return time.Time{}, &tokenFailure{reason: "wrong_audience"}
	}
	for _, path := range p.required {
		if _, ok := claim(c, path); !ok {
			return time.Time{}, &tokenFailure{reason: "missing_claim"}
		}
	}
	return exp, nil
}

func (p *provider) audienceOK(aud any) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(p.audiences, a)
	case []any:
		for _, e := range a {
			if s, ok := e.(string); ok && slices.Contains(p.audiences, s) {
				return true
			}
		}
	}
	return false
}

// numericDate reads a NumericDate claim (seconds since the epoch).
func numericDate(c map[string]any, name string) (time.Time, bool) {
	n, ok := c[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

// identity builds the identity a verified token proves.
func (p *provider) identity(c map[string]any) *Identity {
	sub, _ := c["sub"].(string)
	id := &Identity{Auth: AuthJWT, User: claimString(sub), Issuer: p.issuer}
	if id.User != "" {
		id.ClientID = "user:" + id.User
	}
	id.Scopes = claimList(c, p.scopes)
	id.Roles = claimList(c, p.roles)
	if p.tier != nil {
		if v, ok := claim(c, p.tier); ok {
			id.Tier = claimString(v)
		}
	}
	for _, h := range p.headers {
		if v, ok := claim(c, h.path); ok {
			id.Claims = append(id.Claims, [2]string{h.header, claimString(v)})
		}
	}
	id.finish()
	return id
}
