package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// RateLimit is a named limit: whose requests it counts together (Key),
// which requests it applies to (When, tiers), and how many it admits (one
// of TokenBucket, SlidingWindow, FixedWindow). Routes name the limits that
// apply to them; a request is admitted only if every applicable limit
// admits it.
type RateLimit struct {
	Source `yaml:"-"`

	// Name is the key the limit is declared under.
	Name string `yaml:"-"`

	// When is the condition: "" (every request), "anonymous",
	// "authenticated", or "tier:NAME".
	When string `yaml:"when"`
	// Key lists the dimensions requests are counted by: client_ip,
	// client_id, user, route, tier, header:NAME. Empty: one counter for
	// every request the limit applies to.
	Key []string `yaml:"key"`

	TokenBucket   *TokenBucket `yaml:"token_bucket"`
	SlidingWindow *Window      `yaml:"sliding_window"`
	FixedWindow   *Window      `yaml:"fixed_window"`

	// Shadow limits are counted and logged but never refuse a request.
	Shadow bool `yaml:"shadow"`
	// Headers asks for RateLimit-* headers on admitted responses too; a
	// refusal always carries them.
	Headers bool `yaml:"headers"`

	// Parts is Key parsed, filled during validation.
	Parts []KeyPart `yaml:"-"`
	// Tiers are the tiers the limit is restricted to, from `when: tier:T`
	// and from the tiers section; empty means any tier. Filled during
	// validation, sorted.
	Tiers []string `yaml:"-"`
	// Stage is where in Envoy's chain the limit is checked: after_auth
	// (the default) or before_auth (see LimitStage).
	Stage LimitStage `yaml:"stage"`
}

// Condition kinds of RateLimit.When.
const (
	WhenAnonymous     = "anonymous"
	WhenAuthenticated = "authenticated"
	WhenTierPrefix    = "tier:"
)

// KeyDimension is one thing requests can be counted by.
type KeyDimension string

// The key dimensions a limit may use.
const (
	KeyClientIP KeyDimension = "client_ip"
	KeyClientID KeyDimension = "client_id"
	KeyUser     KeyDimension = "user"
	KeyRoute    KeyDimension = "route"
	KeyTier     KeyDimension = "tier"
	KeyHeader   KeyDimension = "header"
)

// KeyPart is one parsed element of a limit's key.
type KeyPart struct {
	Dimension KeyDimension
	// Header is the lower-case header name of a "header:NAME" part.
	Header string
}

// String is the part as written in a policy.
func (k KeyPart) String() string {
	if k.Dimension == KeyHeader {
		return "header:" + k.Header
	}
	return string(k.Dimension)
}

// ParseKeyPart parses one element of a limit's key.
func ParseKeyPart(s string) (KeyPart, error) {
	if name, ok := strings.CutPrefix(s, "header:"); ok {
		if !headerNameRE.MatchString(name) {
			return KeyPart{}, fmt.Errorf("%q is not a valid header name", name)
		}
		return KeyPart{Dimension: KeyHeader, Header: strings.ToLower(name)}, nil
	}
	switch d := KeyDimension(s); d {
	case KeyClientIP, KeyClientID, KeyUser, KeyRoute, KeyTier:
		return KeyPart{Dimension: d}, nil
	}
	return KeyPart{}, fmt.Errorf("unknown key %q; expected client_ip, client_id, user, route, tier or header:NAME", s)
}

// Algorithm names how a limit counts.
type Algorithm string

// The algorithms a limit may use.
const (
	TokenBucketAlgorithm   Algorithm = "token_bucket"
	SlidingWindowAlgorithm Algorithm = "sliding_window"
	FixedWindowAlgorithm   Algorithm = "fixed_window"
)

// Algorithm is the algorithm the limit uses, or "" if none is set.
func (r *RateLimit) Algorithm() Algorithm {
	switch {
	case r.TokenBucket != nil:
		return TokenBucketAlgorithm
	case r.SlidingWindow != nil:
		return SlidingWindowAlgorithm
	case r.FixedWindow != nil:
		return FixedWindowAlgorithm
	}
	return ""
}

// TokenBucket admits Burst requests at once and then Rate on average.
type TokenBucket struct {
	Source `yaml:"-"`

	Rate  Rate `yaml:"rate"`
	Burst int  `yaml:"burst"` // default: the rate's count
}

// Rate is "N/UNIT" or "N/DURATION": 10/s, 600/m, 5000/h, 100/10s.
type Rate struct {
	Count int
	Per   time.Duration
}

// String is the rate as written in a policy, normalised.
func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.Count, r.Per) }

// decodeNode parses "10/s".
func (r *Rate) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected a rate such as 10/s, found %s", describe(n))
		return
	}
	rate, err := ParseRate(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return
	}
	*r = rate
}

// ParseRate parses a rate: a positive count, "/", and a unit (s, m, h, d)
// or a Go duration.
func ParseRate(s string) (Rate, error) {
	count, per, ok := strings.Cut(s, "/")
	bad := fmt.Errorf("invalid rate %q: write COUNT/UNIT such as 10/s, 600/m, 5000/h or 100/10s", s)
	if !ok {
		return Rate{}, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if err != nil || n < 1 {
		return Rate{}, bad
	}
	var d time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	case "d":
		d = 24 * time.Hour
	default:
		if d, err = time.ParseDuration(per); err != nil || d <= 0 {
			return Rate{}, bad
		}
	}
	return Rate{Count: n, Per: d}, nil
}

// Window admits Limit requests per Window.
type Window struct {
	Source `yaml:"-"`

	Limit  int      `yaml:"limit"`
	Window Duration `yaml:"window"`
}

// Tier is a plan: the limits that apply to clients of that tier (the
// x-tollgate-tier identity the authz service sets).
type Tier struct {
	Source `yaml:"-"`

	// Name is the key the tier is declared under.
	Name string `yaml:"-"`

	RateLimits []string `yaml:"rate_limits"`
}

// FailureMode is what the rate-limit service does when its Redis store
// does not answer in time.
type FailureMode string

// The failure modes.
const (
	FailOpen   FailureMode = "fail_open"
	FailClosed FailureMode = "fail_closed"
	// Grace falls back to per-instance in-memory limits, each instance
	// enforcing its share, for Grace.Period, then to Grace.Then.
	Grace FailureMode = "grace"
)

// RateLimitStore says where counters live. Without Redis they live in the
// memory of each rate-limit instance.
type RateLimitStore struct {
	Source `yaml:"-"`

	Redis     *RedisStore  `yaml:"redis"`
	OnFailure FailureMode  `yaml:"on_failure"` // default fail_open
	Grace     *GracePeriod `yaml:"grace"`      // with on_failure: grace
}

// RedisStore is how to reach Redis: one address (single node), several
// addresses (Cluster), or several addresses and a master name (Sentinel).
type RedisStore struct {
	Source `yaml:"-"`

	Address        string   `yaml:"address"`
	Addresses      []string `yaml:"addresses"`
	SentinelMaster string   `yaml:"sentinel_master"`
	Username       string   `yaml:"username"`
	// PasswordEnv names the environment variable holding the password, so
	// the secret never sits in policy files.
	PasswordEnv string `yaml:"password_env"`
	// PasswordFile names a file holding the password (relative to the
	// policy file), such as a mounted Kubernetes Secret. It is read for
	// every new connection, so a rotated secret needs no restart.
	PasswordFile string `yaml:"password_file"`
	// Password is refused when present: a secret written in the policy
	// would be in every copy, diff and saved generation of it.
	Password refusedSecret `yaml:"password"`
	DB       int           `yaml:"db"`
	Timeout  Duration      `yaml:"timeout"` // per decision; default 50ms
	// TLS encrypts and authenticates the connections to every node (and
	// to the Sentinels).
	TLS *RedisTLS `yaml:"tls"`
	// Sentinel is how to authenticate to the Sentinels themselves, which
	// have their own password (and user) apart from the nodes'.
	Sentinel *SentinelAuth `yaml:"sentinel"`
}

// RedisTLS is TLS to Redis. Paths are relative to the policy file.
type RedisTLS struct {
	Source `yaml:"-"`

	// CA is a PEM bundle of the CAs that sign Redis's certificates.
	// Default: the system's roots.
	CA string `yaml:"ca"`
	// Cert and Key are Tollgate's client certificate, for a Redis with
	// tls-auth-clients; read at every handshake, so rotation needs no
	// restart.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// ServerName is the name Redis's certificate must carry. Default: the
	// host of the address dialed.
	ServerName string `yaml:"server_name"`
}

// SentinelAuth is the credentials Sentinels ask for (their requirepass or
// ACL user), never the nodes'.
type SentinelAuth struct {
	Source `yaml:"-"`

	Username     string        `yaml:"username"`
	PasswordEnv  string        `yaml:"password_env"`
	PasswordFile string        `yaml:"password_file"`
	Password     refusedSecret `yaml:"password"`
}

// refusedSecret is a policy field that exists only to be refused with a
// useful message, instead of "unknown field".
type refusedSecret struct{}

func (refusedSecret) decodeNode(d *decoder, n *yaml.Node, path string) {
	d.errorf(n, path, "a password is never written in a policy: name an environment variable (password_env) or a file (password_file) that holds it")
}

// ResolvePath is a file named by field of s made relative to the
// directory of the policy file s is written in ("" stays "").
func ResolvePath(s Source, field, file string) string {
	if file == "" {
		return ""
	}
	return resolvePath(s.At(field), file)
}

// GracePeriod is how long the grace mode lasts and what follows it.
type GracePeriod struct {
	Source `yaml:"-"`

	Period Duration    `yaml:"period"` // default 30s
	Then   FailureMode `yaml:"then"`   // default fail_open
}

// RateLimitCallMargin is what Envoy's wait for a rate-limit decision adds
// to the decision deadline: the gRPC hop between Envoy and Tollgate and
// Tollgate's own work around the Redis round trip, with room for a loaded
// host. Much shorter and a healthy but busy Tollgate would be cut off (and
// the failure mode applied to a request it was about to decide); much
// longer and a frozen Tollgate holds every limited request that long.
const RateLimitCallMargin = 100 * time.Millisecond

// DecisionDeadline is the longest the rate-limit service takes to decide:
// the deadline of its Redis round trip, after which its failure mode
// answers at once. A memory store (no Redis) decides without waiting; it
// gets the default deadline too, so Envoy's wait (CallTimeout) has the same
// shape whatever the store. A nil store is the memory store.
func (s *RateLimitStore) DecisionDeadline() time.Duration {
	if s == nil || s.Redis == nil {
		return DefaultRedisTimeout
	}
	return s.Redis.Timeout.D()
}

// CallTimeout is how long Envoy waits for a rate-limit decision before it
// applies UnreachableMode: the decision deadline plus RateLimitCallMargin.
// It only fires when Tollgate itself is unreachable or frozen, since a
// Tollgate that is up answers within its deadline.
func (s *RateLimitStore) CallTimeout() time.Duration {
	return s.DecisionDeadline() + RateLimitCallMargin
}

// UnreachableMode is what Envoy does when Tollgate's rate-limit service
// does not answer at all (down, frozen, or past CallTimeout): fail_closed
// refuses the request, anything else admits it. Grace has no meaning
// there, because grace is Tollgate's own per-instance counting and no
// instance is answering: the mode that follows the grace period (then)
// applies at once. A nil store fails open, as on_failure's default does.
func (s *RateLimitStore) UnreachableMode() FailureMode {
	switch {
	case s == nil:
		return FailOpen
	case s.OnFailure == Grace:
		return s.Grace.Then
	}
	return s.OnFailure
}

// RateLimitsFor returns the limits a route names, in the route's order.
func (p *Policy) RateLimitsFor(r *Route) []*RateLimit {
	out := make([]*RateLimit, 0, len(r.RateLimits))
	for _, name := range r.RateLimits {
		if l, ok := p.RateLimits[name]; ok {
			out = append(out, l)
		}
	}
	return out
}

// RateLimitNames returns the limit names in sorted order.
func (p *Policy) RateLimitNames() []string { return sortedKeys(p.RateLimits) }

// applyRateLimitDefaults fills what a rate-limit section leaves out.
func applyRateLimitDefaults(p *Policy) {
	for _, l := range p.RateLimits {
		if tb := l.TokenBucket; tb != nil && tb.Burst == 0 {
			tb.Burst = tb.Rate.Count
		}
	}
	s := p.RateLimitStore
	if s == nil {
		return
	}
	if s.OnFailure == "" {
		s.OnFailure = FailOpen
	}
	if s.Redis != nil && s.Redis.Timeout == 0 {
		s.Redis.Timeout = Duration(DefaultRedisTimeout)
	}
	if s.OnFailure == Grace {
		if s.Grace == nil {
			s.Grace = &GracePeriod{}
		}
		if s.Grace.Period == 0 {
			s.Grace.Period = Duration(DefaultGracePeriod)
		}
		if s.Grace.Then == "" {
			s.Grace.Then = FailOpen
		}
	}
}

// mergeRateLimits adds one document's rate-limit sections; a limit or tier
// declared twice, or a second store, is an error at the second one.
func (p *Policy) mergeRateLimits(doc *document, errs *Errors) {
	if p.RateLimits == nil {
		p.RateLimits = map[string]*RateLimit{}
	}
	if p.Tiers == nil {
		p.Tiers = map[string]*Tier{}
	}
	mergeNamed(p.RateLimits, doc.RateLimits, "rate limit", "rate_limits", errs)
	mergeNamed(p.Tiers, doc.Tiers, "tier", "tiers", errs)
	if s := doc.RateLimitStore; s != nil {
		if p.RateLimitStore != nil {
			errs.addf(s.Pos(), "rate_limit_store", "rate_limit_store is already defined at %s", p.RateLimitStore.Pos())
			return
		}
		p.RateLimitStore = s
	}
}

// The entries of the rate-limit descriptors Envoy sends for a limit: the
// xds translator makes Envoy produce them, the rate limiter reads them.
// Identity entries come from headers the authz filter sets; Envoy strips
// any a client sends (see IdentityHeaderPrefix).
const (
	DescriptorLimit    = "limit"
	DescriptorRoute    = "route"
	DescriptorClientIP = "remote_address" // fixed by Envoy's remote_address action
	DescriptorAuth     = "auth"
	// AuthStateHeader says whether a request was authenticated: absent or
	// "anonymous" means anonymous, any other value authenticated.
	AuthStateHeader = IdentityHeaderPrefix + "auth"
	// Anonymous is AuthStateHeader's value for an anonymous request.
	Anonymous = "anonymous"
)

// DescriptorKey is the descriptor entry that carries a key part's value.
func DescriptorKey(k KeyPart) string {
	if k.Dimension == KeyClientIP {
		return DescriptorClientIP
	}
	return k.String()
}

// IdentityHeader is the request header the authz filter sets for an
// identity dimension (client_id, user, tier), or "" for other dimensions.
func IdentityHeader(d KeyDimension) string {
	switch d {
	case KeyClientID:
		return ClientIDHeader
	case KeyUser:
		return UserHeader
	case KeyTier:
		return TierHeader
	}
	return ""
}

func (r *RateLimit) setName(name string) { r.Name = name }

func (t *Tier) setName(name string) { t.Name = name }
