package policy

// The identity contract between the authz service, the rate limiter and
// the services behind the gateway. The authz service sets these request
// headers when it allows a request (after Envoy removed every
// x-tollgate-* header the client sent); Envoy's rate-limit filter copies
// AuthStateHeader, ClientIDHeader, UserHeader and TierHeader into each
// descriptor (entries DescriptorAuth, "client_id", "user", "tier"); the
// access log records ClientIDHeader. Defined once here so that the
// packages that write and read them, which know nothing of each other,
// cannot drift apart.
const (
	// ClientIDHeader is the caller: an API key's id, "user:"+sub for a
	// JWT, "cert:"+principal for a client certificate; absent when
	// anonymous.
	ClientIDHeader = IdentityHeaderPrefix + "client-id"
	// UserHeader is a JWT's sub.
	UserHeader = IdentityHeaderPrefix + "user"
	// TierHeader is the caller's plan: an API key's tier, or a JWT's
	// tier_claim. The tiers section's limits match it exactly.
	TierHeader = IdentityHeaderPrefix + "tier"
	// ScopesHeader and RolesHeader are space-separated.
	ScopesHeader = IdentityHeaderPrefix + "scopes"
	RolesHeader  = IdentityHeaderPrefix + "roles"
)

// The values of AuthStateHeader: the credential kind that identified the
// caller (the same words a route's auth.accept uses), or Anonymous.
// A request that never met the authz service (a public route, a policy
// without auth, or Envoy failing open when the service is unreachable)
// has no AuthStateHeader, which the rate limiter treats as Anonymous.
const (
	AuthAPIKey     = CredAPIKey
	AuthJWT        = CredJWT
	AuthClientCert = CredClientCert
)

// Authenticated reports whether an AuthStateHeader value (""
// when absent) is an authenticated caller.
func Authenticated(auth string) bool { return auth != "" && auth != Anonymous }
