package policy

import (
	"regexp"
	"strings"
)

// CORS lets web pages of other origins call a listener's or a route's
// API from a browser (`cors:`). Envoy answers the browser's preflight
// (OPTIONS with Origin and Access-Control-Request-Method) itself, before
// authentication, rate limits and the service, and adds
// Access-Control-Allow-Origin to the answers of allowed origins' requests.
// A route's cors replaces its listener's whole (docs/policy.md, "CORS").
type CORS struct {
	Source `yaml:"-"`

	// AllowOrigins are the origins ("https://app.example.com") whose pages
	// may call; "*" in the host stands for one or more labels
	// ("https://*.example.com"), and "*" alone for any origin.
	AllowOrigins []string `yaml:"allow_origins"`
	// AllowMethods, AllowHeaders and ExposeHeaders are sent as written;
	// empty sends none (browsers then allow GET, HEAD and POST with
	// simple headers, and expose simple response headers only).
	AllowMethods  []string `yaml:"allow_methods"`
	AllowHeaders  []string `yaml:"allow_headers"`
	ExposeHeaders []string `yaml:"expose_headers"`
	// AllowCredentials lets pages send cookies and Authorization, and
	// read the answer.
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long a browser may cache a preflight's answer; zero
	// sends none (browsers then cache it for 5 seconds).
	MaxAge Duration `yaml:"max_age"`

	// Origins is AllowOrigins compiled by validation.
	Origins []OriginMatch `yaml:"-"`
}

// OriginMatch is one allowed origin: Exact when written without "*",
// else Regex, an RE2 expression matching whole origins.
type OriginMatch struct {
	Exact string
	Regex string
}

// AnyOrigin allows every origin.
const AnyOrigin = "*"

// originLabels is what "*" in an origin pattern stands for: one or more
// DNS labels (or a port's digits), never a "/", ":" or "@" that would
// let another host through.
const originLabels = `[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*`

// OriginPattern compiles an allowed origin with "*" into an RE2
// expression matching whole origins; "*" alone matches any.
func OriginPattern(origin string) string {
	if origin == AnyOrigin {
		return ".*"
	}
	pieces := strings.Split(origin, "*")
	for i, p := range pieces {
		pieces[i] = regexp.QuoteMeta(p)
	}
	return "(?i)" + strings.Join(pieces, originLabels)
}

// CORSFor is the CORS policy that applies to a route's requests on a
// listener: the route's, else the listener's, else nil.
func CORSFor(l *Listener, r *Route) *CORS {
	if r.CORS != nil {
		return r.CORS
	}
	if l != nil {
		return l.CORS
	}
	return nil
}

// AllowsOrigin reports whether a request's Origin is allowed, as Envoy
// decides it from the same expressions: exact origins without regard to
// case, patterns as whole-origin RE2 matches.
func (c *CORS) AllowsOrigin(origin string) bool {
	for _, o := range c.Origins {
		if o.Regex == "" && strings.EqualFold(o.Exact, origin) {
			return true
		}
		if o.Regex == "" {
			continue
		}
		// OriginPattern's expressions always compile.
		if re, err := regexp.Compile("^(?:" + o.Regex + ")$"); err == nil && re.MatchString(origin) {
			return true
		}
	}
	return false
}
