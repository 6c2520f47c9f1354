package policy

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Auth is the policy's top-level `auth` section: which credentials exist
// (API keys, JWT providers) and how Envoy treats Tollgate's authorization
// service. Which credentials a route accepts is on the route (RouteAuth).
type Auth struct {
	Source `yaml:"-"`

	APIKeys *APIKeys       `yaml:"api_keys"`
	JWT     []*JWTProvider `yaml:"jwt"`
	// FailureMode is what Envoy does when it cannot get an answer from
	// Tollgate's authorization service: deny (default, 503) or allow.
	FailureMode AuthFailureMode `yaml:"failure_mode"`
	// Timeout bounds each authorization call Envoy makes. Default 200ms.
	Timeout Duration `yaml:"timeout"`
}

// AuthFailureMode says whether Envoy lets a request through when
// Tollgate's authorization service cannot be reached.
type AuthFailureMode string

// The authorization failure modes.
const (
	FailDeny  AuthFailureMode = "deny"
	FailAllow AuthFailureMode = "allow"
)

// APIKeys configures API-key authentication. The keys themselves live in
// their own file, written by `tollgate keys`, which holds hashes only.
type APIKeys struct {
	Source `yaml:"-"`

	// File is the keys file, relative to the policy file that names it. It
	// must not be a policy file itself: put it in a subdirectory
	// (keys/keys.yaml), which Load does not read as policy.
	File string `yaml:"file"`
	// Header carries the key. Default X-API-Key. `Authorization: ApiKey
	// KEY` is accepted too.
	Header string `yaml:"header"`
	// AllowQuery lets every route take the key from the `api_key` query
	// parameter; a route's own allow_query overrides it. Default false,
	// because URLs end up in logs and browser history.
	AllowQuery bool `yaml:"allow_query"`
	// Optional lets File be missing: no file means no keys yet, so every
	// API key is refused (401) until `tollgate keys new` creates it, which
	// reloads like an edit. Default false: a missing file is an error, so
	// a mistyped path is caught before it refuses every key.
	Optional bool `yaml:"optional"`

	// Path is File resolved against its policy file, and Data its content
	// as read by Load; the authz engine parses it. Content is part of the
	// policy version, so editing the keys file reloads like policy.
	Path string `yaml:"-"`
	Data []byte `yaml:"-"`
}

// Missing reports whether the keys file is optional and was not there
// when the policy was loaded: no key is valid.
func (k *APIKeys) Missing() bool { return k.Optional && k.Data == nil }

// OutageMode is what a JWT provider does once its key set has been stale
// for longer than max_stale.
type OutageMode string

// The outage modes.
const (
	// OutageDeny answers 503 for the provider's tokens: Tollgate cannot
	// vouch for keys it could not refresh, and the client is not to blame.
	OutageDeny OutageMode = "deny"
	// OutageServeStale keeps verifying with the last good keys, alerting.
	OutageServeStale OutageMode = "serve_stale"
)

// JWTProvider is an identity provider whose signed tokens Tollgate
// accepts, identified by its issuer (`iss`).
type JWTProvider struct {
	Source `yaml:"-"`

	Issuer string `yaml:"issuer"`
	// Exactly one of JWKSURI (fetched and refreshed in the background) and
	// JWKSFile (relative to the policy file; reloads like policy).
	JWKSURI  string `yaml:"jwks_uri"`
	JWKSFile string `yaml:"jwks_file"`
	// Audiences: the token's `aud` must name one of them. Empty: any.
	Audiences []string `yaml:"audiences"`
	// Algorithms the provider signs with. Default [RS256, ES256]. Only
	// asymmetric algorithms: a JWKS is public, so an HMAC key in it would
	// let anyone sign tokens.
	Algorithms []string `yaml:"algorithms"`
	// Leeway tolerated on exp, nbf and iat for clock skew. Default 30s.
	Leeway Duration `yaml:"leeway"`
	// RefreshInterval between JWKS fetches. Default 5m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MaxStale is how long (since the last good fetch) the last good key
	// set keeps serving while the JWKS URL fails. Default 1h; it must be
	// longer than RefreshInterval. Then Outage applies.
	MaxStale Duration   `yaml:"max_stale"`
	Outage   OutageMode `yaml:"outage"` // default deny
	// ScopesClaim and RolesClaim name the claims (dotted paths for nested
	// objects, such as realm_access.roles) holding scopes and roles, as a
	// space-delimited string or an array. Defaults scope and roles.
	ScopesClaim string `yaml:"scopes_claim"`
	RolesClaim  string `yaml:"roles_claim"`
	// TierClaim names the claim holding the caller's plan, sent as
	// x-tollgate-tier. Optional.
	TierClaim string `yaml:"tier_claim"`
	// ClaimsToHeaders maps a claim (dotted path) to the request header the
	// service receives it in.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers"`
	// RequiredClaims must be present in every token (dotted paths).
	RequiredClaims []string `yaml:"required_claims"`

	// JWKSPath is JWKSFile resolved, and JWKSData its content (Load).
	JWKSPath string `yaml:"-"`
	JWKSData []byte `yaml:"-"`
}

// Credential kinds a route may accept.
const (
	CredAPIKey     = "api_key"
	CredJWT        = "jwt"
	CredClientCert = "client_cert"
	CredAnonymous  = "anonymous"
)

// RouteAuth is a route's `auth`: either public (no authorization call at
// all) or the credentials it accepts and the scopes and roles it needs.
type RouteAuth struct {
	Source `yaml:"-"`

	Public bool `yaml:"public"`
	// Accept lists credential kinds: api_key, jwt, client_cert, anonymous.
	// Default: every kind the policy configures (api_key, jwt).
	Accept []string `yaml:"accept"`
	// Scopes the credential must all carry.
	Scopes []string `yaml:"scopes"`
	// Roles: a JWT must carry at least one of them.
	Roles []string `yaml:"roles"`
	// AllowQuery overrides auth.api_keys.allow_query for this route.
	AllowQuery *bool `yaml:"allow_query"`
	// ForwardToken keeps the Authorization header for the route's
	// service, which then sees the caller's bearer token (or its own
	// scheme, such as Basic). Default false: in a policy with an auth
	// section, Authorization never reaches a service, so a token the
	// gateway verified cannot be replayed by whatever reads it behind.
	// An API key in Authorization (the ApiKey scheme) is removed either
	// way (xds/credentials.go).
	ForwardToken bool `yaml:"forward_token"`
}

// ForwardsToken reports whether a route's service receives the caller's
// Authorization header: only where the route says so, or where the
// policy has no auth section (Tollgate reads no credential then).
func (p *Policy) ForwardsToken(r *Route) bool {
	return p.Auth == nil || (r.Auth != nil && r.Auth.ForwardToken)
}

// APIKeyHeader is the header Tollgate reads API keys from, lower-case:
// auth.api_keys.header, or DefaultAPIKeyHeader when keys are not
// configured (the header is still never forwarded, so a service behind
// the gateway never learns to expect it).
func (p *Policy) APIKeyHeader() string {
	if p.Auth != nil && p.Auth.APIKeys != nil && p.Auth.APIKeys.Header != "" {
		return strings.ToLower(p.Auth.APIKeys.Header)
	}
	return strings.ToLower(DefaultAPIKeyHeader)
}

// Accepts reports whether the route accepts a credential kind.
func (a *RouteAuth) Accepts(kind string) bool { return slices.Contains(a.Accept, kind) }

// HasAuthz reports whether Envoy must ask Tollgate's authorization service
// about some route of the policy.
func (p *Policy) HasAuthz() bool {
	return slices.ContainsFunc(p.Routes, func(r *Route) bool { return r.Auth != nil && !r.Auth.Public })
}

// APIKeyQueryParam is the query parameter an API key is read from where a
// route allows it (allow_query). It is a fixed name, not a default: no
// policy field changes it.
const APIKeyQueryParam = "api_key"

// AuthzTimeout is how long Envoy waits for an authorization decision:
// auth.timeout as Load resolved it. A policy without an auth section may
// still protect routes (client_cert, anonymous), so it gets the default.
func (p *Policy) AuthzTimeout() time.Duration {
	if p.Auth == nil {
		return DefaultAuthzTimeout
	}
	return p.Auth.Timeout.D()
}

// authHeaders are the claim header names, for IdentityHeaders.
func (p *Policy) authHeaders() []string {
	if p.Auth == nil {
		return nil
	}
	var out []string
	for _, j := range p.Auth.JWT {
		for _, h := range j.ClaimsToHeaders {
			h = strings.ToLower(h)
			if !slices.Contains(out, h) && !strings.HasPrefix(h, IdentityHeaderPrefix) {
				out = append(out, h)
			}
		}
	}
	slices.Sort(out)
	return out
}

// readAuthFiles reads the files the auth section names (keys file, JWKS
// files) relative to the policy file that names them, records their
// content and adds it to the version hash, so that editing one reloads.
func (p *Policy) readAuthFiles(hash io.Writer, errs *Errors) {
	if p.Auth == nil {
		return
	}
	if k := p.Auth.APIKeys; k != nil && k.File != "" {
		if full := auxPath(k.Source, k.File); k.Optional && p.reads.missing(full) && !readAsPolicy(k.Source, full) {
			// Absent is a state of its own in the version, so that
			// creating the file reloads.
			k.Path = full
			fmt.Fprintf(hash, "aux\x00%s\x00absent\x00", k.File)
		} else {
			k.Path, k.Data = p.readAuxFile(k.Source, "file", k.File, "auth.api_keys.file", hash, errs)
		}
	}
	for i, j := range p.Auth.JWT {
		if j.JWKSFile != "" {
			j.JWKSPath, j.JWKSData = p.readAuxFile(j.Source, "jwks_file", j.JWKSFile, fmt.Sprintf("auth.jwt[%d].jwks_file", i), hash, errs)
		}
	}
}

// auxPath resolves a file a policy names against the policy file.
func auxPath(s Source, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(s.Pos().File), name)
}

// readAsPolicy reports whether Load would read the file at full as a
// policy file (it is beside the policy file that names it).
func readAsPolicy(s Source, full string) bool {
	return filepath.Dir(full) == filepath.Dir(s.Pos().File) && IsPolicyFile(full)
}

// readAuxFile reads a file the auth section names and adds it to the
// version by the name written in the policy (never the directory it
// resolves to, so that replicas in other directories get the same
// version) and its content.
func (p *Policy) readAuxFile(s Source, field, name, path string, hash io.Writer, errs *Errors) (string, []byte) {
	full := auxPath(s, name)
	if readAsPolicy(s, full) {
		errs.addf(s.At(field), path, "%q would be read as a policy file: put it in a subdirectory, such as keys/%s", name, filepath.Base(name))
		return full, nil
	}
	data, err := p.reads.readFile(full)
	if err != nil {
		errs.addf(s.At(field), path, "cannot read %s: %v", name, unwrapPathError(err))
		return full, nil
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(hash, "aux\x00%s\x00%x\x00", name, sum)
	return full, data
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// mergeAuth takes the auth section of one document; it may be written in
// one document only.
func (p *Policy) mergeAuth(a *Auth, errs *Errors) {
	if a == nil {
		return
	}
	if p.Auth != nil {
		errs.addf(a.Pos(), "auth", "auth is already defined at %s", p.Auth.Pos())
		return
	}
	p.Auth = a
}

// applyAuthDefaults fills the auth section and every route's rule. When
// the policy has an auth section, a route without `auth` requires one of
// the configured credentials: forgetting a rule must not open a route.
func applyAuthDefaults(p *Policy) {
	a := p.Auth
	if a == nil {
		return
	}
	if a.FailureMode == "" {
		a.FailureMode = FailDeny
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(DefaultAuthzTimeout)
	}
	if k := a.APIKeys; k != nil && k.Header == "" {
		k.Header = DefaultAPIKeyHeader
	}
	for _, j := range a.JWT {
		jwtDefaults(j)
	}
	for _, r := range p.Routes {
		if r.Auth == nil {
			r.Auth = &RouteAuth{}
		}
		if !r.Auth.Public && len(r.Auth.Accept) == 0 {
			r.Auth.Accept = configuredCredentials(a)
		}
	}
}

func jwtDefaults(j *JWTProvider) {
	if len(j.Algorithms) == 0 {
		j.Algorithms = slices.Clone(DefaultAlgorithms)
	}
	if !j.Has("leeway") {
		j.Leeway = Duration(DefaultJWTLeeway)
	}
	if j.RefreshInterval == 0 {
		j.RefreshInterval = Duration(DefaultJWKSRefresh)
	}
	if !j.Has("max_stale") {
		j.MaxStale = Duration(DefaultJWKSMaxStale)
	}
	if j.Outage == "" {
		j.Outage = OutageDeny
	}
	if j.ScopesClaim == "" {
		j.ScopesClaim = DefaultScopesClaim
	}
	if j.RolesClaim == "" {
		j.RolesClaim = DefaultRolesClaim
	}
}

// configuredCredentials are the credential kinds the auth section defines.
func configuredCredentials(a *Auth) []string {
	var out []string
	if a.APIKeys != nil {
		out = append(out, CredAPIKey)
	}
	if len(a.JWT) > 0 {
		out = append(out, CredJWT)
	}
	return out
}
