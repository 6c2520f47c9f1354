package policy

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// This file holds what a route does besides picking a service: the
// upgrades it lets through (WebSocket), how it rewrites the request on the
// way to the service, and the two actions that answer without a service, a
// redirect and a fixed response. Deprecation headers for retiring an API
// version go on whatever the route answers. Validation is in
// validate_routeactions.go; xds/routeactions.go translates each type.

// UpgradeWebSocket is the WebSocket upgrade (RFC 6455), the one protocol
// upgrade a route may allow.
const UpgradeWebSocket = "websocket"

// Upgrades are the protocol upgrades (the Upgrade header's token, lower
// case) a route may allow. Every listener tells Envoy about each of them,
// switched off, so that allowing one on a route changes that route only.
var Upgrades = []string{UpgradeWebSocket}

// Rewrite changes the request Envoy sends the service; the client and the
// route's matching see the request as sent.
type Rewrite struct {
	Source `yaml:"-"`

	// PathPrefix replaces the part of the path the route's path_prefix
	// (or path) matched.
	PathPrefix string `yaml:"path_prefix"`
	// PathRegex rewrites the path (without the query) with a regular
	// expression and a substitution that may use its captures.
	PathRegex *RegexRewrite `yaml:"path_regex"`
	// Host replaces the Host header with this value.
	Host string `yaml:"host"`
	// AutoHost replaces the Host header with the DNS name of the endpoint
	// Envoy picked.
	AutoHost bool `yaml:"auto_host"`
}

// RegexRewrite is a regular expression (RE2, matched anywhere in the
// path, every match replaced) and what replaces it: \1 to \9 are its
// captures, \0 the whole match, \\ a backslash.
type RegexRewrite struct {
	Source `yaml:"-"`

	Pattern      string `yaml:"pattern"`
	Substitution string `yaml:"substitution"`
}

// Redirect answers the route's requests with a redirect to the same URL
// changed as it says; what it leaves out stays as the client sent it.
type Redirect struct {
	Source `yaml:"-"`

	// Status is 301, 302, 303, 307 or 308; default DefaultRedirectStatus.
	Status int    `yaml:"status"`
	Scheme string `yaml:"scheme"` // http or https
	Host   string `yaml:"host"`
	Port   int    `yaml:"port"`
	// At most one of Path (the whole path), PathPrefix (replaces what the
	// route's path_prefix or path matched) and PathRegex.
	Path       string        `yaml:"path"`
	PathPrefix string        `yaml:"path_prefix"`
	PathRegex  *RegexRewrite `yaml:"path_regex"`
	// StripQuery drops the query string from the new URL.
	StripQuery bool `yaml:"strip_query"`
}

// RedirectStatuses are the statuses a redirect may use.
var RedirectStatuses = []int{301, 302, 303, 307, 308}

// DirectResponse answers the route's requests with a fixed response, for
// maintenance or retired-version pages.
type DirectResponse struct {
	Source `yaml:"-"`

	Status int    `yaml:"status"`
	Body   string `yaml:"body"`
	// ContentType of the body; default DefaultDirectResponseContentType
	// when there is a body.
	ContentType string `yaml:"content_type"`
}

// MaxDirectResponseBody is the largest body a direct response may have:
// Envoy's default limit (max_direct_response_body_size_bytes), which
// Tollgate keeps.
const MaxDirectResponseBody = 4096

// Deprecation says the route's API is deprecated (RFC 9745) and when it
// goes away (RFC 8594): every response of the route carries Deprecation
// and Sunset headers, and a Link to the documentation when given.
type Deprecation struct {
	Source `yaml:"-"`

	// Since and Sunset are a date (2026-06-30, midnight UTC) or an RFC
	// 3339 time; at least one is required.
	Since  string `yaml:"since"`
	Sunset string `yaml:"sunset"`
	// Link is a URL describing the deprecation (rel="deprecation").
	Link string `yaml:"link"`

	// since and sunset are parsed by validation.
	since, sunset time.Time
}

// AnswersItself reports whether Envoy answers the route's requests itself
// (a redirect or a direct response) instead of sending them to a service.
func (r *Route) AnswersItself() bool { return r.Redirect != nil || r.Respond != nil }

// AllowsUpgrade reports whether the route lets the named upgrade through.
func (r *Route) AllowsUpgrade(name string) bool {
	for _, u := range r.Upgrades {
		if u == name {
			return true
		}
	}
	return false
}

// imfFixdate is the HTTP date format (RFC 9110 section 5.6.7) of Sunset.
const imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"

// Headers are the response headers the deprecation adds, in a fixed
// order: Deprecation as an RFC 9651 date ("@1767225600"), Sunset as an
// HTTP date, and Link.
func (d *Deprecation) Headers() [][2]string {
	var out [][2]string
	if !d.since.IsZero() {
		out = append(out, [2]string{"Deprecation", fmt.Sprintf("@%d", d.since.Unix())})
	}
	if !d.sunset.IsZero() {
		out = append(out, [2]string{"Sunset", d.sunset.UTC().Format(imfFixdate)})
	}
	if d.Link != "" {
		out = append(out, [2]string{"Link", fmt.Sprintf("<%s>; rel=\"deprecation\"", d.Link)})
	}
	return out
}

// parseDeprecationTime reads a date or an RFC 3339 time.
func parseDeprecationTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// applyRouteActionDefaults fills what redirects and direct responses leave
// out.
func applyRouteActionDefaults(p *Policy) {
	for _, r := range p.Routes {
		if r.Redirect != nil && r.Redirect.Status == 0 {
			r.Redirect.Status = DefaultRedirectStatus
		}
		if d := r.Respond; d != nil && d.Body != "" && d.ContentType == "" {
			d.ContentType = DefaultDirectResponseContentType
		}
	}
}

// ServicePath is the path (and query) Envoy sends the service for a
// request target the route matched, as Envoy matches it (normalized): the
// target itself unless the route rewrites the path.
func (r *Route) ServicePath(target string) string {
	if r.Rewrite == nil {
		return target
	}
	return rewritePath(&r.Match, target, r.Rewrite.PathPrefix, r.Rewrite.PathRegex)
}

// RedirectLocation is the Location of the route's redirect for a request
// with this scheme and Host and this target (normalized, with its query),
// built as Envoy builds it (RouteEntryImplBase::newUri): a new host drops
// the request's port; a new port replaces it; a scheme change from http to
// https drops port 80 (and from https to http port 443).
func (r *Route) RedirectLocation(scheme, host, target string) string {
	rd := r.Redirect
	if rd == nil {
		return ""
	}
	switch newScheme := cmp.Or(rd.Scheme, scheme); {
	case rd.Host != "":
		host = rd.Host
	case rd.Port != 0,
		newScheme == "https" && scheme == "http" && strings.HasSuffix(host, ":80"),
		newScheme == "http" && scheme == "https" && strings.HasSuffix(host, ":443"):
		host = hostWithoutPort(host)
	}
	if rd.Port != 0 {
		host += ":" + strconv.Itoa(rd.Port)
	}
	path := rewritePath(&r.Match, target, rd.PathPrefix, rd.PathRegex)
	if rd.Path != "" {
		_, query, hasQuery := strings.Cut(target, "?")
		path = rd.Path
		if hasQuery && !strings.Contains(rd.Path, "?") {
			path += "?" + query
		}
	}
	if rd.StripQuery {
		path, _, _ = strings.Cut(path, "?")
	}
	return cmp.Or(rd.Scheme, scheme) + "://" + host + path
}

// rewritePath applies a prefix rewrite (replacing what the match's
// path_prefix or path matched) or a regex rewrite (every match in the path,
// the query kept) to a target.
func rewritePath(m *Match, target, prefix string, rr *RegexRewrite) string {
	path, query, hasQuery := strings.Cut(target, "?")
	switch {
	case prefix != "":
		n := len(m.PathPrefix)
		if m.Path != "" {
			n = len(m.Path)
		}
		path = prefix + path[min(n, len(path)):]
	case rr != nil:
		if re, err := regexp.Compile(rr.Pattern); err == nil {
			path = re.ReplaceAllString(path, goTemplate(rr.Substitution))
		}
	}
	if hasQuery {
		return path + "?" + query
	}
	return path
}

// goTemplate turns an RE2 substitution (\1, \\) into a Go replacement
// template (${1}, with $ written $$).
func goTemplate(sub string) string {
	var b strings.Builder
	for i := 0; i < len(sub); i++ {
		switch c := sub[i]; {
		case c == '$':
			b.WriteString("$$")
		case c == '\\' && i+1 < len(sub) && sub[i+1] >= '0' && sub[i+1] <= '9':
			b.WriteString("${" + string(sub[i+1]) + "}")
			i++
		case c == '\\' && i+1 < len(sub):
			b.WriteByte(sub[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Scheme is the scheme of requests to the named listener ("" for the
// only one): https when it terminates TLS.
func (p *Policy) Scheme(listener string) string {
	if l := p.listener(listener); l != nil && l.TLS != nil {
		return "https"
	}
	return "http"
}
