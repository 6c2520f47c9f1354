package policy

import (
	"fmt"
	"net/url"
	"regexp/syntax"
	"slices"
	"strings"
)

// routeTarget checks where a route's requests go: to services, or to a
// redirect or a direct response, never two of them.
func (v *validator) routeTarget(r *Route, path string) {
	if !r.AnswersItself() {
		v.destinations(r, path+".to")
		return
	}
	if r.Redirect != nil && r.Respond != nil {
		v.errorf(r.At("respond"), path+".respond", "a route either redirects or responds: remove redirect or respond")
	}
	action := "redirect"
	if r.Redirect == nil {
		action = "respond"
	}
	// These only make sense for a request Envoy forwards to a service.
	for _, f := range []string{"to", "upgrades", "rewrite", "timeout", "per_try_timeout", "idle_timeout", "retries", "mirror", "fault", "cors"} {
		if r.Has(f) {
			v.errorf(r.At(f), path+"."+f, "a route with %s answers itself and sends nothing to a service: remove %s (or %s)", action, f, action)
		}
	}
	// Envoy's rate-limit filter skips a route without a service (it
	// reads the limits of a route entry, which such a route lacks), so
	// the limits would silently never apply.
	if r.Has("rate_limits") {
		v.errorf(r.At("rate_limits"), path+".rate_limits", "Envoy applies no rate limits to a route with %s: remove rate_limits", action)
	}
}

// routeActions checks each route's upgrades, rewrite, redirect, direct
// response and deprecation.
func (v *validator) routeActions() {
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name)
		v.upgrades(r, path+".upgrades")
		v.rewrite(r, path+".rewrite")
		v.redirect(r, path+".redirect")
		v.directResponse(r.Respond, path+".respond")
		v.deprecation(r.Deprecation, path+".deprecation")
	}
}

func (v *validator) upgrades(r *Route, path string) {
	for j, u := range r.Upgrades {
		if !slices.Contains(Upgrades, u) {
			v.errorf(r.At("upgrades"), fmt.Sprintf("%s[%d]", path, j), "unknown upgrade %q; expected one of: %s", u, strings.Join(Upgrades, ", "))
		}
	}
	if len(r.Upgrades) == 0 {
		return
	}
	// Over HTTP/2 an upgrade is an extended CONNECT (RFC 8441), which
	// Envoy only sends a service configured for it; the upgrade would fail.
	for _, d := range r.To {
		if s := v.p.Services[d.Service]; s != nil && s.Protocol.UsesHTTP2() {
			v.errorf(r.At("upgrades"), path, "service %q speaks %s; upgrades reach services over HTTP/1.1 only (protocol: http1)", d.Service, s.Protocol)
		}
	}
}

func (v *validator) rewrite(r *Route, path string) {
	rw := r.Rewrite
	if rw == nil {
		return
	}
	if rw.Has("path_prefix") && rw.PathRegex != nil {
		v.errorf(rw.Pos(), path, "set at most one of path_prefix and path_regex")
	}
	if rw.Has("path_prefix") {
		v.prefixRewrite(r, rw.Source, rw.PathPrefix, path)
	}
	v.regexRewrite(rw.PathRegex, path+".path_regex")
	switch {
	case rw.Has("host") && rw.AutoHost:
		v.errorf(rw.At("auto_host"), path+".auto_host", "set at most one of host and auto_host")
	case rw.Has("host"):
		v.rewriteHost(rw.Host, rw.At("host"), path+".host")
	case rw.AutoHost:
		v.autoHost(r, rw.At("auto_host"), path+".auto_host")
	}
	if !rw.Has("path_prefix") && rw.PathRegex == nil && !rw.Has("host") && !rw.AutoHost {
		v.errorf(rw.Pos(), path, "a rewrite needs one of path_prefix, path_regex, host or auto_host")
	}
}

// prefixRewrite checks a path_prefix that replaces what the route's match
// matched: Envoy replaces the matched prefix, so a path_regex match has
// none to replace.
func (v *validator) prefixRewrite(r *Route, s Source, prefix, path string) {
	if r.Match.Has("path_regex") {
		v.errorf(s.At("path_prefix"), path+".path_prefix", "path_prefix replaces what match.path_prefix or match.path matched; with match.path_regex use path_regex")
	}
	if !strings.HasPrefix(prefix, "/") {
		v.errorf(s.At("path_prefix"), path+".path_prefix", "must start with /, got %q", prefix)
	}
	v.pathChars(prefix, s.At("path_prefix"), path+".path_prefix")
}

// pathChars refuses bytes a path cannot hold unescaped.
func (v *validator) pathChars(p string, pos Pos, path string) {
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f || p[i] == '?' || p[i] == '#' {
			v.errorf(pos, path, "%q holds a byte a path cannot hold (only ASCII 0x21-0x7E, no ? or #; write others percent-encoded)", p)
			return
		}
	}
}

// regexRewrite checks the pattern and that the substitution names only
// captures the pattern has: RE2 refuses the rewrite otherwise, and Envoy
// would reject the whole route configuration.
func (v *validator) regexRewrite(rr *RegexRewrite, path string) {
	if rr == nil {
		return
	}
	if !rr.Has("pattern") || rr.Pattern == "" {
		v.errorf(rr.Pos(), path+".pattern", "needs a pattern (a regular expression)")
		return
	}
	v.regex(rr.Pattern, rr.At("pattern"), path+".pattern")
	re, err := syntax.Parse(rr.Pattern, syntax.Perl)
	if err != nil {
		return // reported by regex
	}
	if msg := checkSubstitution(rr.Substitution, re.MaxCap()); msg != "" {
		v.errorf(rr.At("substitution"), path+".substitution", "%s", msg)
	}
}

// checkSubstitution reads a substitution as RE2's Rewrite does: \0 to \9
// are captures, \\ is a backslash, any other backslash is an error.
func checkSubstitution(sub string, captures int) string {
	for i := 0; i < len(sub); i++ {
		if sub[i] != '\\' {
			continue
		}
		i++
		switch {
		case i == len(sub):
			return fmt.Sprintf("%q ends with a lone backslash; write \\\\ for a backslash", sub)
		case sub[i] == '\\':
		case sub[i] >= '0' && sub[i] <= '9':
			if n := int(sub[i] - '0'); n > captures {
				return fmt.Sprintf("%q uses \\%d but the pattern has %d capture group(s)", sub, n, captures)
			}
		default:
			return fmt.Sprintf("%q has \\%c; use \\0 to \\9 for captures and \\\\ for a backslash", sub, sub[i])
		}
	}
	return ""
}

// rewriteHost checks a literal host: a name or address with an optional
// port, no wildcard.
func (v *validator) rewriteHost(h string, pos Pos, path string) {
	if !hostRE.MatchString(h) || strings.Contains(h, "*") {
		v.errorf(pos, path, "%q is not a host name (with an optional :port)", h)
	}
}

// autoHost refuses auto_host where Envoy has no name to send: it sends
// the DNS name of the endpoint it picked, and a service of IP addresses
// has none, so the Host would silently stay the client's.
func (v *validator) autoHost(r *Route, pos Pos, path string) {
	for _, d := range r.To {
		if s := v.p.Services[d.Service]; s != nil && !s.UsesDNS() {
			v.errorf(pos, path, "service %q has only IP endpoints, so Envoy has no host name to send: write host: NAME instead", d.Service)
		}
	}
}

func (v *validator) redirect(r *Route, path string) {
	rd := r.Redirect
	if rd == nil {
		return
	}
	if rd.Has("status") && !slices.Contains(RedirectStatuses, rd.Status) {
		v.errorf(rd.At("status"), path+".status", "a redirect's status is one of 301, 302, 303, 307, 308, got %d", rd.Status)
	}
	if rd.Has("scheme") && rd.Scheme != "http" && rd.Scheme != "https" {
		v.errorf(rd.At("scheme"), path+".scheme", "scheme is http or https, got %q", rd.Scheme)
	}
	if rd.Has("host") && (!hostRE.MatchString(rd.Host) || strings.ContainsAny(rd.Host, "*:")) {
		v.errorf(rd.At("host"), path+".host", "%q is not a host name (write a port in port)", rd.Host)
	}
	if rd.Has("port") && (rd.Port < 1 || rd.Port > 65535) {
		v.errorf(rd.At("port"), path+".port", "port must be between 1 and 65535, got %d", rd.Port)
	}
	v.redirectPath(r, rd, path)
	changes := 0
	for _, f := range []string{"scheme", "host", "port", "path", "path_prefix", "path_regex", "strip_query"} {
		if rd.Has(f) {
			changes++
		}
	}
	if changes == 0 {
		v.errorf(rd.Pos(), path, "a redirect to the same URL would loop: set scheme, host, port, path, path_prefix, path_regex or strip_query")
	}
}

func (v *validator) redirectPath(r *Route, rd *Redirect, path string) {
	forms := 0
	for _, f := range []string{"path", "path_prefix", "path_regex"} {
		if rd.Has(f) {
			forms++
		}
	}
	if forms > 1 {
		v.errorf(rd.Pos(), path, "set at most one of path, path_prefix and path_regex")
	}
	if rd.Has("path") {
		if !strings.HasPrefix(rd.Path, "/") {
			v.errorf(rd.At("path"), path+".path", "must start with /, got %q", rd.Path)
		}
		v.pathChars(rd.Path, rd.At("path"), path+".path")
	}
	if rd.Has("path_prefix") {
		v.prefixRewrite(r, rd.Source, rd.PathPrefix, path)
	}
	v.regexRewrite(rd.PathRegex, path+".path_regex")
}

func (v *validator) directResponse(d *DirectResponse, path string) {
	if d == nil {
		return
	}
	if d.Status < 200 || d.Status > 599 {
		v.errorf(d.At("status"), path+".status", "a response's status must be between 200 and 599, got %d", d.Status)
	}
	if len(d.Body) > MaxDirectResponseBody {
		v.errorf(d.At("body"), path+".body", "the body is %d bytes; Envoy sends at most %d", len(d.Body), MaxDirectResponseBody)
	}
	if d.Has("content_type") && !d.Has("body") {
		v.errorf(d.At("content_type"), path+".content_type", "content_type describes the body; there is none")
	}
	if d.Has("content_type") && !contentTypeRE.MatchString(d.ContentType) {
		v.errorf(d.At("content_type"), path+".content_type", "%q is not a media type such as application/json", d.ContentType)
	}
}

func (v *validator) deprecation(d *Deprecation, path string) {
	if d == nil {
		return
	}
	if !d.Has("since") && !d.Has("sunset") {
		v.errorf(d.Pos(), path, "a deprecation needs since (when it was deprecated), sunset (when it goes away), or both")
	}
	var err error
	if d.Has("since") {
		if d.since, err = parseDeprecationTime(d.Since); err != nil {
			v.errorf(d.At("since"), path+".since", "%q is not a date (2026-06-30) or an RFC 3339 time (2026-06-30T12:00:00Z)", d.Since)
		}
	}
	if d.Has("sunset") {
		if d.sunset, err = parseDeprecationTime(d.Sunset); err != nil {
			v.errorf(d.At("sunset"), path+".sunset", "%q is not a date (2026-06-30) or an RFC 3339 time (2026-06-30T12:00:00Z)", d.Sunset)
		}
	}
	if !d.since.IsZero() && !d.sunset.IsZero() && d.sunset.Before(d.since) {
		v.errorf(d.At("sunset"), path+".sunset", "sunset %s is before since %s", d.Sunset, d.Since)
	}
	if d.Has("link") {
		if u, err := url.Parse(d.Link); err != nil || !u.IsAbs() || strings.ContainsAny(d.Link, " <>\"") {
			v.errorf(d.At("link"), path+".link", "%q is not an absolute URL", d.Link)
		}
	}
}
