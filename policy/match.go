package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// This file is the routing decision Envoy makes with the configuration
// xds/route.go and xds/match.go give it, over a plain request: which
// route, if any, handles a request. `tollgate check` explains a request
// with it, and e2e/check_test.go keeps it in step with a real Envoy. A
// change to how a matcher is translated must change this file too.

// Request is an HTTP request as it reaches a listener.
type Request struct {
	// Listener names the listener; "" means the policy's only listener.
	Listener string
	Method   string
	// Host is the :authority: the Host header (repeated ones joined, see
	// ParseRequest), or an absolute-form target's host.
	Host string
	// Path is the request target as sent: path and query string.
	Path string
	// Headers by name, matched without regard to case, one value per
	// header line: Envoy matches each value of a repeated header on its
	// own (headerMatches says how a condition treats several).
	Headers map[string][]string
}

// Match returns the route that handles the request, or nil when Envoy
// answers itself (Decide says how and why).
func (p *Policy) Match(r Request) *Route {
	return p.Decide(r).Route
}

// Decision is what Envoy does with a request.
type Decision struct {
	// Route handles the request; nil when Envoy answers itself.
	Route *Route
	// Path is the path (and query) as Envoy matches it, after its
	// normalization.
	Path string
	// Redirect is set when Envoy first redirects the client to Path (307:
	// the path held %2F or %5C); Route is then the route of the request
	// the client sends next.
	Redirect bool
	// Status and Reason say what Envoy answers when Route is nil (or 307
	// with Redirect), or when the route's request_limits refuse the
	// request (405, 413, 415).
	Status int
	Reason string
}

// Decide says what Envoy does with a request read by ParseRequest (or
// built by hand): answer 400 for a path it refuses, redirect, answer 404
// when the listener is unknown, the host is not among the listener's
// hosts or no route attached to it matches, or hand the request to the
// first route, in policy order, that matches the path as Envoy rewrites
// it (NormalizePath).
func (p *Policy) Decide(r Request) Decision {
	l := p.listener(r.Listener)
	if l == nil {
		return Decision{Status: 404, Reason: fmt.Sprintf("no listener %q", r.Listener)}
	}
	if !strings.HasPrefix(r.Path, "/") {
		return Decision{Path: r.Path, Status: 404, Reason: fmt.Sprintf("the path %q does not start with /: no route matches", r.Path)}
	}
	norm, err := NormalizePath(r.Path)
	if err != nil {
		return Decision{Status: 400, Reason: err.Error()}
	}
	d := Decision{Path: norm.Path, Redirect: norm.Redirect, Status: 404, Reason: "no route matches: Envoy answers 404"}
	if d.Redirect {
		d.Status, d.Reason = 307, "the path holds %2F or %5C: Envoy redirects the client to "+norm.Path
	}
	r.Path = norm.Path
	r.Host = stripTrailingHostDot(r.Host)
	if !ListenerAnswers(l, r.Host) {
		if d.Redirect {
			return d
		}
		d.Reason = fmt.Sprintf("no route matches: host %q is not among listener %s's hosts (%s): Envoy answers 404",
			r.Host, l.Name, strings.Join(l.Hosts, ", "))
		return d
	}
	re := p.regexps()
	for _, route := range p.routesFor(l.Name) {
		if route.Match.matches(r, re) {
			d.Route = route
			if !d.Redirect {
				// 0 unless a request limit refuses it (requestlimits.go)
				d.Status, d.Reason = p.refusedByLimits(l, route, r)
			}
			return d
		}
	}
	return d
}

// listener finds a listener by name; "" is the only listener.
func (p *Policy) listener(name string) *Listener {
	if name == "" {
		if len(p.Listeners) == 1 {
			return p.Listeners[0]
		}
		return nil
	}
	for _, l := range p.Listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// ListenerAnswers reports whether a request for host reaches the routes
// of the listener: Envoy's virtual host domain match over the listener's
// hosts (case-insensitive; "*.example.com" needs a non-empty label before
// ".example.com"; the request's port is ignored unless a host names a
// port, and then every host must match with its port).
func ListenerAnswers(l *Listener, host string) bool {
	host = strings.ToLower(host)
	domains := make([]string, 0, len(l.Hosts))
	for _, h := range l.Hosts {
		domains = append(domains, strings.ToLower(h))
	}
	if len(domains) == 0 {
		domains = []string{"*"}
	}
	if !slices.ContainsFunc(domains, func(d string) bool { return strings.Contains(d, ":") }) {
		host = hostWithoutPort(host)
	}
	for _, d := range domains {
		if d == "*" || d == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(d, "*"); ok && len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// portStart is where the port of a host begins (its colon), or -1; an
// IPv6 literal's colons are not a port. Whatever follows the colon counts.
func portStart(host string) int {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.LastIndexByte(host, ']') > i {
		return -1
	}
	return i
}

func hostWithoutPort(host string) string {
	if i := portStart(host); i >= 0 {
		return host[:i]
	}
	return host
}

// stripTrailingHostDot removes one trailing dot from the host as Envoy's
// strip_trailing_host_dot does: the last dot of the host, when it ends
// the host ("a.example.org:8443." too) or comes just before a colon.
func stripTrailingHostDot(host string) string {
	i := strings.LastIndexByte(host, '.')
	if i >= 0 && (i == len(host)-1 || host[i+1] == ':') {
		return host[:i] + host[i+1:]
	}
	return host
}

// matches reports whether every condition of the match holds; the
// request's path is already normalized.
func (m *Match) matches(r Request, re regexps) bool {
	return m.pathMatches(r.Path, re) &&
		m.hostMatches(r.Host, re) &&
		(len(m.Methods) == 0 || slices.Contains(m.Methods, r.Method)) &&
		!slices.ContainsFunc(m.Headers, func(v *ValueMatch) bool { return !v.headerMatches(r.Headers, re) }) &&
		!slices.ContainsFunc(m.Query, func(v *ValueMatch) bool { return !v.queryMatches(r.Path, re) })
}

// pathMatches matches the path without its query string: path and
// path_prefix ignore ASCII case (xds.pathMatch says why), path_regex must
// match the whole path.
func (m *Match) pathMatches(target string, re regexps) bool {
	p, _, _ := strings.Cut(target, "?")
	switch {
	case m.Path != "":
		return strings.EqualFold(p, m.Path)
	case m.PathRegex != "":
		return re.fullMatch(m.PathRegex, p)
	case m.PathPrefix != "":
		return len(p) >= len(m.PathPrefix) && strings.EqualFold(p[:len(m.PathPrefix)], m.PathPrefix)
	}
	return strings.HasPrefix(p, "/")
}

func (m *Match) hostMatches(host string, re regexps) bool {
	expr := HostPattern(m.Hosts)
	return expr == "" || re.matches(expr, host)
}

// headerMatches matches one header condition; present: false means the
// header is absent. A header sent several times (several lines, as Envoy
// keeps them) matches an exact condition only when every value equals it,
// and a regex condition when one of its values matches: Envoy tests each
// value on its own, and xds sends an exact condition with its inverse
// (HeaderNotExactPattern) so that no value may differ.
func (v *ValueMatch) headerMatches(headers map[string][]string, re regexps) bool {
	var values []string
	found := false
	for name, vs := range headers {
		if strings.EqualFold(name, v.Name) {
			values = append(values, vs...)
			found = true
		}
	}
	if v.Present != nil {
		return found == *v.Present
	}
	if v.Regex != "" {
		return slices.ContainsFunc(values, func(s string) bool { return re.fullMatch(v.Regex, s) })
	}
	return found && !slices.ContainsFunc(values, func(s string) bool { return s != v.Exact })
}

// HeaderNotExactPattern is the RE2 expression matching every header value
// but exact. Envoy's header matchers hold when one value of a repeated
// header matches; the translator adds this expression, inverted, beside an
// exact condition, so that a client cannot add "x-tenant: acme" to its own
// "x-tenant: evil" and take a route meant for acme.
func HeaderNotExactPattern(exact string) string {
	runes := []rune(exact)
	expr := ".+" // longer than exact
	for i := len(runes) - 1; i >= 0; i-- {
		r := string(runes[i])
		// Here: a prefix of exact (empty alternative), a value leaving exact
		// at rune i, or rune i followed by what follows.
		expr = "(?:|[^" + regexp.QuoteMeta(r) + "].*|" + regexp.QuoteMeta(r) + expr + ")"
	}
	return "(?s)" + expr
}

// queryMatches matches one query condition against the path's query
// string, as Envoy reads it: parameters split on "&", names and values
// not decoded, the first occurrence of a name counting. present: false
// is the inverted :path regex xds.queryAbsentMatcher sends Envoy.
func (v *ValueMatch) queryMatches(target string, re regexps) bool {
	if v.Present != nil && !*v.Present {
		return !re.matches(QueryParamPattern(v.Name), target)
	}
	value, found := firstQueryValue(target, v.Name)
	switch {
	case !found:
		return false
	case v.Present != nil:
		return true
	case v.Regex != "":
		return re.fullMatch(v.Regex, value)
	}
	return value == v.Exact
}

func firstQueryValue(target, name string) (string, bool) {
	_, query, ok := strings.Cut(target, "?")
	if !ok {
		return "", false
	}
	query, _, _ = strings.Cut(query, "#")
	for param := range strings.SplitSeq(query, "&") {
		k, val, _ := strings.Cut(param, "=")
		if k == name && param != "" {
			return val, true
		}
	}
	return "", false
}

// HostPattern is the RE2 expression a route's hosts condition matches the
// :authority with, or "" when the route takes every host. The xDS
// translator sends Envoy this same expression.
func HostPattern(hosts []string) string {
	alternatives := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h == "*" {
			return ""
		}
		name, port, hasPort := strings.Cut(h, ":")
		expr := regexp.QuoteMeta(name)
		if rest, ok := strings.CutPrefix(name, "*."); ok {
			// One or more labels: never a colon, or "evil.com:a.example.org"
			// would pass for a subdomain (the port taken for a label).
			expr = `[^:]+\.` + regexp.QuoteMeta(rest)
		}
		if hasPort {
			expr += ":" + port
		} else {
			// Whatever follows a colon is the port, even when it is empty
			// or not a number: services split "admin.example.com:" and
			// "admin.example.com:x" into that host (Go's SplitHostPort
			// does), so the gateway must not route them as another host.
			expr += "(:.*)?"
		}
		alternatives = append(alternatives, expr)
	}
	if len(alternatives) == 0 {
		return ""
	}
	return "(?i)^(" + strings.Join(alternatives, "|") + ")$"
}

// QueryParamPattern is the RE2 expression matching a :path (path and
// query) whose query string has the parameter, with or without a value:
// "/p?name", "/p?a=1&name=2". Envoy's query matcher cannot say "absent",
// so the translator inverts this expression on :path for present: false.
func QueryParamPattern(name string) string {
	return `^[^?]*\?(.*&)?` + regexp.QuoteMeta(name) + `(=[^&]*)?(&.*)?$`
}

// fullMatch reports whether an RE2 expression matches the whole of s, as
// Envoy's safe_regex matchers do.
func fullMatch(expr, s string) bool {
	return regexMatches(anchored(expr), s)
}

// regexMatches compiles expr and matches it; validation has already
// refused invalid expressions, so one that fails here matches nothing.
func regexMatches(expr, s string) bool {
	re, err := regexp.Compile(expr)
	return err == nil && re.MatchString(s)
}
