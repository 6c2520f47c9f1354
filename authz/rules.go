package authz

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// routeRule is a route's compiled auth rule.
type routeRule struct {
	name       string
	public     bool
	accept     []string
	scopes     []string
	roles      []string
	allowQuery bool
	services   []string // the route's destinations, for per-key limits
	// challenges are the WWW-Authenticate values of a 401 for a missing
	// credential; invalidToken those for a bad token.
	challenges   []string
	invalidToken []string
}

const realm = `realm="tollgate"`

func compileRoute(p *policy.Policy, r *policy.Route) *routeRule {
	rule := &routeRule{name: r.Name}
	for _, d := range r.To {
		rule.services = append(rule.services, d.Service)
	}
	ra := r.Auth
	if ra == nil || ra.Public {
		// A route without a rule is public only in a policy without an
		// auth section; Envoy does not call for it (disabled per route).
		rule.public = ra != nil || p.Auth == nil
		return rule
	}
	rule.accept, rule.scopes, rule.roles = ra.Accept, ra.Scopes, ra.Roles
	if p.Auth != nil && p.Auth.APIKeys != nil {
		rule.allowQuery = p.Auth.APIKeys.AllowQuery
	}
	if ra.AllowQuery != nil {
		rule.allowQuery = *ra.AllowQuery
	}
	if ra.Accepts(policy.CredJWT) {
		rule.challenges = append(rule.challenges, "Bearer "+realm)
		rule.invalidToken = append(rule.invalidToken, "Bearer "+realm+`, error="invalid_token"`)
	}
	if ra.Accepts(policy.CredAPIKey) {
		c := "ApiKey " + realm + fmt.Sprintf(`, header=%q`, p.Auth.APIKeys.Header)
		rule.challenges = append(rule.challenges, c)
		rule.invalidToken = append(rule.invalidToken, c)
	}
	return rule
}

func (r *routeRule) accepts(kind string) bool { return slices.Contains(r.accept, kind) }

// decide applies a route's rule. The credential is chosen by what the
// client sent and the route accepts, in the order bearer token, API key,
// client certificate. A credential that is sent but wrong is refused even
// where anonymous calls are allowed: a broken client should learn so.
func (rs *ruleset) decide(rule *routeRule, req *Request, now time.Time, usage *Usage) *Decision {
	bearer, hasBearer := cutScheme(req.Headers["authorization"], "bearer")
	key := ""
	if rs.keys != nil {
		if !rule.allowQuery && hasQueryValue(req.Path, policy.APIKeyQueryParam) {
			// Envoy removes the parameter on every route (xds/credentials.go),
			// so the request would go on without the key the client meant
			// to send, perhaps as anonymous: say so instead.
			return rule.unauthorized("unauthorized", "this route does not take an API key from the query string: send it in the "+rs.keyHeaderName+" header", "key_in_query")
		}
		key = apiKeyFrom(req, rs.keyHeader, rule.allowQuery)
	}
	var d *Decision
	switch {
	case hasBearer && rule.accepts(policy.CredJWT):
		d = rs.checkToken(rule, bearer, now)
	case key != "" && rule.accepts(policy.CredAPIKey):
		d = rs.checkKey(rule, key, now, usage)
	case req.Principal != "" && rule.accepts(policy.CredClientCert):
		d = rule.authorize(certIdentity(req.Principal))
	case hasBearer || key != "":
		d = rule.unauthorized("unauthorized", "this route does not accept that kind of credential", "credential_not_accepted")
	case rule.accepts(policy.CredAnonymous):
		d = allow(anonymous)
	default:
		d = rule.unauthorized("unauthorized", rule.missingMessage(), "missing_credentials")
	}
	return d
}

func (r *routeRule) missingMessage() string {
	var ways []string
	if r.accepts(policy.CredAPIKey) {
		ways = append(ways, "an API key")
	}
	if r.accepts(policy.CredJWT) {
		ways = append(ways, "a bearer token")
	}
	if r.accepts(policy.CredClientCert) {
		ways = append(ways, "a client certificate")
	}
	if len(ways) == 0 {
		return "this route needs credentials"
	}
	return "this route needs credentials: " + strings.Join(ways, " or ")
}

func (r *routeRule) unauthorized(code, msg, reason string) *Decision {
	d := deny(401, code, msg, reason)
	d.Challenges = r.challenges
	return d
}

func (rs *ruleset) checkKey(rule *routeRule, key string, now time.Time, usage *Usage) *Decision {
	k, reason := rs.keys.verify(key, now)
	if k == nil {
		d := rule.unauthorized("invalid_api_key", "the API key is not valid", reason)
		if id, err := ParseKey(key); err == nil {
			d.Client = id
		}
		return d
	}
	usage.touch(k.id, now)
	if !k.allows(rule.services) {
		d := deny(403, "forbidden", "this API key may not call this service", "service_not_allowed")
		d.Client = k.id
		return d
	}
	d := rule.authorize(k.identity)
	if d.Allowed() {
		d.RemoveHeaders = []string{rs.keyHeader}
	}
	return d
}

func (rs *ruleset) checkToken(rule *routeRule, token string, now time.Time) *Decision {
	// A token verified before costs a hash and a map lookup: no parsing.
	key := digest(sha256.Sum256([]byte(token)))
	for _, p := range rs.providerList {
		if id, fail, hit := p.cached(key, now); hit {
			if fail != nil {
				return outage(fail)
			}
			return rule.authorize(id)
		}
	}
	t, err := ParseToken(token)
	if err != nil {
		d := rule.unauthorized("invalid_token", "the bearer token is not valid", "malformed_token")
		d.Challenges = rule.invalidToken
		return d
	}
	p := rs.providers[t.issuer()]
	if p == nil {
		d := rule.unauthorized("invalid_token", "the bearer token is not valid", "unknown_issuer")
		d.Challenges = rule.invalidToken
		return d
	}
	id, fail := p.verify(key, t, now)
	switch {
	case fail != nil && fail.outage:
		return outage(fail)
	case fail != nil:
		d := rule.unauthorized("invalid_token", "the bearer token is not valid", fail.reason)
		d.Challenges = rule.invalidToken
		if sub, ok := t.claims["sub"].(string); ok {
			d.Client = "user:" + claimString(sub) + " (unverified)"
		}
		return d
	}
	return rule.authorize(id)
}

// outage is the answer when a provider cannot vouch for its keys: 503,
// the client is not to blame.
func outage(fail *tokenFailure) *Decision {
	return deny(503, "auth_unavailable", "the identity provider cannot be reached; try again later", fail.reason)
}

// authorize checks an authenticated identity against the route's scopes
// (all required) and roles (any one suffices).
func (r *routeRule) authorize(id *Identity) *Decision {
	for _, s := range r.scopes {
		if !slices.Contains(id.Scopes, s) {
			d := deny(403, "insufficient_scope", "the credential lacks a required scope: "+strings.Join(r.scopes, " "), "insufficient_scope")
			if id.Auth == AuthJWT {
				d.Challenges = []string{"Bearer " + realm + `, error="insufficient_scope", scope="` + strings.Join(r.scopes, " ") + `"`}
			}
			d.Client = id.ClientID
			return d
		}
	}
	if len(r.roles) > 0 && !slices.ContainsFunc(r.roles, func(role string) bool { return slices.Contains(id.Roles, role) }) {
		d := deny(403, "insufficient_role", "the credential lacks a required role", "insufficient_role")
		d.Client = id.ClientID
		return d
	}
	return allow(id)
}

func certIdentity(principal string) *Identity {
	id := &Identity{Auth: AuthClientCert, ClientID: "cert:" + claimString(principal)}
	id.finish()
	return id
}

// Body is the JSON body of a denial.
func (d *Decision) Body(requestID string) string {
	b, _ := json.Marshal(struct {
		Error     string `json:"error"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	}{d.Code, d.Message, requestID})
	return string(b)
}
