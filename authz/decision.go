package authz

import (
	"strings"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tollgate/tollgate/policy"
)

// Request is what the engine decides over: the parts of Envoy's check
// request that matter, with no protos.
type Request struct {
	// Route is the policy route's name, from the per-route context Envoy
	// sends, so Tollgate never matches routes a second time.
	Route string
	// Path is the request path with its query string.
	Path string
	// Headers are the request headers, lower-case names.
	Headers map[string]string
	// Principal is the client certificate's identity when the listener
	// verified one (Envoy's source.principal), else "".
	Principal string
	// ClientIP and RequestID are for logs.
	ClientIP  string
	RequestID string
}

// The credential kinds an identity can come from, as sent in
// x-tollgate-auth; the rate limiter reads them (policy/identity.go).
const (
	AuthAPIKey     = policy.AuthAPIKey
	AuthJWT        = policy.AuthJWT
	AuthClientCert = policy.AuthClientCert
	AuthAnonymous  = policy.Anonymous
)

// Identity is who called, as established by a credential. Identities are
// shared (one per key, one per cached token) and never mutated after
// finish.
type Identity struct {
	Auth     string // api_key, jwt, client_cert or anonymous
	ClientID string // key id; "user:"+sub for a JWT; "cert:"+principal
	Tier     string
	User     string // JWT sub
	Issuer   string // JWT iss
	Scopes   []string
	Roles    []string
	// Claims are the claim headers (name, value) of a JWT, sorted by name.
	Claims [][2]string

	// Headers is every header to set on the request, computed once.
	Headers [][2]string

	// response caches the adapter's encoded answer for this identity
	// (always the same), so a hot key or token costs no proto building.
	response atomic.Pointer[authv3.CheckResponse]
}

// Identity header names, defined by the policy package so that the rate
// limiter and the access log read what this package writes;
// docs/policy.md documents them for services.
const (
	HeaderClientID = policy.ClientIDHeader
	HeaderAuth     = policy.AuthStateHeader
	HeaderTier     = policy.TierHeader
	HeaderUser     = policy.UserHeader
	HeaderScopes   = policy.ScopesHeader
	HeaderRoles    = policy.RolesHeader
)

// finish computes the headers sent with the request.
func (id *Identity) finish() {
	h := [][2]string{{HeaderAuth, id.Auth}}
	add := func(name, v string) {
		if v != "" {
			h = append(h, [2]string{name, v})
		}
	}
	add(HeaderClientID, id.ClientID)
	add(HeaderTier, id.Tier)
	add(HeaderUser, id.User)
	add(HeaderScopes, strings.Join(id.Scopes, " "))
	add(HeaderRoles, strings.Join(id.Roles, " "))
	id.Headers = append(h, id.Claims...)
}

var anonymous = func() *Identity {
	id := &Identity{Auth: AuthAnonymous}
	id.finish()
	return id
}()

// Decision is the engine's answer to one request.
type Decision struct {
	// Status is 200 to let the request through, else the HTTP status of
	// the denial: 401, 403 or 503.
	Status int
	// Identity is set when Status is 200.
	Identity *Identity
	// Code and Message make the JSON body of a denial. Message never says
	// why a secret was wrong.
	Code    string
	Message string
	// Reason is the precise cause, for metrics and logs only.
	Reason string
	// Challenges are the WWW-Authenticate values of a 401 or 403.
	Challenges []string
	// Client names the caller in logs when known (a key id, a subject),
	// even on a denial; never a secret.
	Client string
	// RemoveHeaders are request headers not to forward upstream (the API
	// key) when allowed. Envoy removes every credential anyway, after
	// the filters that read them (xds/credentials.go); removing the key
	// here keeps it from the rate-limit filter too.
	RemoveHeaders []string
}

// Allowed reports whether the request may proceed.
func (d *Decision) Allowed() bool { return d.Status == 200 }

func allow(id *Identity) *Decision {
	return &Decision{Status: 200, Identity: id, Reason: "ok", Client: id.ClientID}
}

func deny(status int, code, message, reason string) *Decision {
	return &Decision{Status: status, Code: code, Message: message, Reason: reason}
}
