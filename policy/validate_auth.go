package policy

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// auth validates the auth section and every route's auth rule.
func (v *validator) auth() {
	a := v.p.Auth
	if a != nil {
		v.authSection(a)
	}
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name) + ".auth"
		switch {
		case r.Auth != nil:
			v.routeAuth(r.Auth, a, path)
			v.clientCertListeners(r, path)
		case a != nil && a.APIKeys == nil && len(a.JWT) == 0:
			v.errorf(r.Pos(), path, "auth configures no api_keys or jwt, so this route needs its own auth: { accept: [...] } or { public: true }")
		}
	}
}

var authFailureModes = []AuthFailureMode{FailDeny, FailAllow}

func (v *validator) authSection(a *Auth) {
	if a.FailureMode != "" && !slices.Contains(authFailureModes, a.FailureMode) {
		v.errorf(a.At("failure_mode"), "auth.failure_mode", "unknown failure mode %q; expected deny or allow", a.FailureMode)
	}
	if a.Has("timeout") && a.Timeout <= 0 {
		v.errorf(a.At("timeout"), "auth.timeout", "must be positive")
	}
	if k := a.APIKeys; k != nil {
		if k.File == "" {
			v.errorf(k.Pos(), "auth.api_keys.file", "api_keys needs a file (written by `tollgate keys new`)")
		}
		if k.Has("header") {
			v.headerName(k.Header, k.At("header"), "auth.api_keys.header")
		}
	}
	issuers := names{}
	for i, j := range a.JWT {
		path := fmt.Sprintf("auth.jwt[%d]", i)
		if j.Issuer == "" {
			v.errorf(j.Pos(), path+".issuer", "a JWT provider needs an issuer")
		} else {
			v.unique(issuers, "issuer", j.Issuer, j.At("issuer"), path+".issuer")
		}
		v.jwtProvider(j, path)
	}
}

// AsymmetricAlgorithms are the JWS algorithms a provider may allow. HMAC
// (HS*) is refused: verifying it needs a shared secret, and a key taken
// from a public JWKS would let anyone sign. "none" is never accepted.
var AsymmetricAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

var outageModes = []OutageMode{OutageDeny, OutageServeStale}

func (v *validator) jwtProvider(j *JWTProvider, path string) {
	switch {
	case (j.JWKSURI == "") == (j.JWKSFile == ""):
		v.errorf(j.Pos(), path, "set exactly one of jwks_uri and jwks_file")
	case j.JWKSURI != "":
		u, err := url.Parse(j.JWKSURI)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			v.errorf(j.At("jwks_uri"), path+".jwks_uri", "%q is not an http(s) URL", j.JWKSURI)
		}
	}
	for _, alg := range j.Algorithms {
		if !slices.Contains(AsymmetricAlgorithms, alg) {
			v.errorf(j.At("algorithms"), path+".algorithms", "algorithm %q is not allowed; expected some of: %s (HMAC and none are refused)", alg, strings.Join(AsymmetricAlgorithms, ", "))
		}
	}
	for _, f := range []struct {
		name string
		d    Duration
		zero bool
	}{{"leeway", j.Leeway, true}, {"refresh_interval", j.RefreshInterval, false}, {"max_stale", j.MaxStale, true}} {
		if j.Has(f.name) && (f.d < 0 || f.d == 0 && !f.zero) {
			v.errorf(j.At(f.name), path+"."+f.name, "must be positive")
		}
	}
	v.jwksStaleness(j, path)
	if j.Outage != "" && !slices.Contains(outageModes, j.Outage) {
		v.errorf(j.At("outage"), path+".outage", "unknown outage mode %q; expected deny or serve_stale", j.Outage)
	}
	for _, claim := range sortedKeys(j.ClaimsToHeaders) {
		v.claimHeader(claim, j.ClaimsToHeaders[claim], j.At("claims_to_headers"), path+".claims_to_headers."+claim)
	}
	for _, c := range j.RequiredClaims {
		if c == "" {
			v.errorf(j.At("required_claims"), path+".required_claims", "a required claim needs a name")
		}
	}
}

// jwksStaleness refuses a max_stale not longer than refresh_interval. Keys
// age up to a full refresh interval between two healthy fetches, so such
// a provider could not tolerate a single failed fetch: the first one
// would put it in outage at once. (authz counts staleness only once a
// fetch has failed, so a healthy IdP never refuses tokens whatever the
// values; this rule keeps max_stale meaningful.) The defaults apply
// later, so unset fields are compared by their default values.
func (v *validator) jwksStaleness(j *JWTProvider, path string) {
	refresh, maxStale := j.RefreshInterval.D(), j.MaxStale.D()
	refreshText, staleText := refresh.String(), maxStale.String()
	if !j.Has("refresh_interval") {
		refresh, refreshText = DefaultJWKSRefresh, "default "+DefaultJWKSRefresh.String()
	}
	if !j.Has("max_stale") {
		maxStale, staleText = DefaultJWKSMaxStale, "default "+DefaultJWKSMaxStale.String()
	}
	if refresh <= 0 || maxStale < 0 || maxStale > refresh || j.JWKSFile != "" {
		return
	}
	field := "max_stale"
	if !j.Has(field) {
		field = "refresh_interval"
	}
	v.errorf(j.At(field), path+"."+field, "max_stale (%s) must be longer than refresh_interval (%s): keys are a full interval old when the next fetch runs, so a single failed fetch would refuse every token", staleText, refreshText)
}

// reservedHeaders may never carry a claim: they route, authenticate or
// frame the request.
var reservedHeaders = []string{"authorization", "host", "content-length", "content-type", "cookie", "transfer-encoding", "connection", "te", "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-envoy-original-path"}

func (v *validator) claimHeader(claim, header string, pos Pos, path string) {
	lower := strings.ToLower(header)
	switch {
	case claim == "":
		v.errorf(pos, path, "a claim needs a name")
	case !headerNameRE.MatchString(header):
		v.errorf(pos, path, "%q is not a valid header name", header)
	case strings.HasPrefix(lower, IdentityHeaderPrefix):
		v.errorf(pos, path, "%q: x-tollgate-* headers are set by Tollgate itself; pick another name", header)
	case slices.Contains(reservedHeaders, lower) || strings.HasPrefix(lower, "x-envoy-"):
		v.errorf(pos, path, "%q cannot carry a claim: it is a standard or Envoy header", header)
	case lower == v.p.APIKeyHeader():
		v.errorf(pos, path, "%q cannot carry a claim: it is the API key header, which never reaches a service", header)
	}
}

// clientCertListeners checks that a route accepting client certificates
// is attached only to listeners that verify them: elsewhere Envoy never
// asks for a certificate, so the credential could never be presented and
// the rule would silently mean something else.
func (v *validator) clientCertListeners(r *Route, path string) {
	if r.Auth.Public || !r.Auth.Accepts(CredClientCert) {
		return
	}
	for _, l := range v.p.Listeners {
		attached := len(r.Listeners) == 0 || slices.Contains(r.Listeners, l.Name)
		if attached && (l.TLS == nil || l.TLS.ClientCA == "") {
			v.errorf(r.Auth.At("accept"), path+".accept", "accepts client_cert, but listener %q does not verify client certificates: set its tls.client_ca, or attach the route only to listeners that do (route listeners:)", l.Name)
		}
	}
}

var credentialKinds = []string{CredAPIKey, CredJWT, CredClientCert, CredAnonymous}

func (v *validator) routeAuth(ra *RouteAuth, a *Auth, path string) {
	if ra.Public {
		for _, f := range []string{"accept", "scopes", "roles", "allow_query"} {
			if ra.Has(f) {
				v.errorf(ra.At(f), path+"."+f, "a public route takes no %s: it skips authorization", f)
			}
		}
		return
	}
	for _, kind := range ra.Accept {
		switch {
		case !slices.Contains(credentialKinds, kind):
			v.errorf(ra.At("accept"), path+".accept", "unknown credential %q; expected some of: %s", kind, strings.Join(credentialKinds, ", "))
		case kind == CredAPIKey && (a == nil || a.APIKeys == nil):
			v.errorf(ra.At("accept"), path+".accept", "accepts api_key, but auth.api_keys is not configured")
		case kind == CredJWT && (a == nil || len(a.JWT) == 0):
			v.errorf(ra.At("accept"), path+".accept", "accepts jwt, but auth.jwt lists no provider")
		}
	}
	if ra.Has("accept") && len(ra.Accept) == 0 {
		v.errorf(ra.At("accept"), path+".accept", "accept lists no credential; use public: true for a route anyone may call")
	}
	if ra.Accepts(CredAnonymous) && (len(ra.Scopes) > 0 || len(ra.Roles) > 0) {
		v.errorf(ra.At("accept"), path+".accept", "a route that accepts anonymous callers cannot require scopes or roles: they have none")
	}
	if len(ra.Roles) > 0 && ra.Has("accept") && !ra.Accepts(CredJWT) {
		v.errorf(ra.At("roles"), path+".roles", "roles come from JWTs, but the route does not accept jwt")
	}
	if ra.AllowQuery != nil && *ra.AllowQuery && ra.Has("accept") && !ra.Accepts(CredAPIKey) {
		v.errorf(ra.At("allow_query"), path+".allow_query", "allow_query is about API keys, but the route does not accept api_key")
	}
	for _, list := range []struct {
		field  string
		values []string
	}{{"scopes", ra.Scopes}, {"roles", ra.Roles}} {
		for _, s := range list.values {
			if s == "" || strings.ContainsAny(s, " \t,") {
				v.errorf(ra.At(list.field), path+"."+list.field, "%q is not a valid name: no spaces or commas", s)
			}
		}
	}
}
