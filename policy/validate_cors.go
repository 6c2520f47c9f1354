package policy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// cors checks the CORS settings of every listener and route.
func (v *validator) cors() {
	for i, l := range v.p.Listeners {
		v.corsOf(l.CORS, listPath("listeners", i, l.Name)+".cors")
	}
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name)
		v.corsOf(r.CORS, path+".cors")
		v.corsPreflightMatches(r, path)
	}
}

func (v *validator) corsOf(c *CORS, path string) {
	if c == nil {
		return
	}
	if len(c.AllowOrigins) == 0 {
		v.errorf(c.Pos(), path+".allow_origins", "list the origins whose pages may call, such as [https://app.example.com]")
	}
	c.Origins = nil
	for j, o := range c.AllowOrigins {
		opath := fmt.Sprintf("%s.allow_origins[%d]", path, j)
		m, err := originMatch(o)
		if err != nil {
			v.errorf(c.At("allow_origins"), opath, "%v", err)
			continue
		}
		if m.Regex != "" {
			v.regex(m.Regex, c.At("allow_origins"), opath) // within Envoy's program size
		}
		c.Origins = append(c.Origins, m)
	}
	if c.AllowCredentials && slices.Contains(c.AllowOrigins, AnyOrigin) {
		v.errorf(c.At("allow_credentials"), path+".allow_credentials", "credentials with any origin (\"*\") would let every web site call with its visitors' cookies; list the origins")
	}
	for _, m := range c.AllowMethods {
		if !slices.Contains(methods, m) && m != "*" {
			v.errorf(c.At("allow_methods"), path+".allow_methods", "unknown method %q; expected upper-case, one of: %s, or *", m, strings.Join(methods, ", "))
		}
	}
	for _, field := range []string{"allow_headers", "expose_headers"} {
		list := c.AllowHeaders
		if field == "expose_headers" {
			list = c.ExposeHeaders
		}
		for j, h := range list {
			if h != "*" {
				v.headerName(h, c.At(field), fmt.Sprintf("%s.%s[%d]", path, field, j))
			}
		}
	}
	if c.MaxAge < 0 || c.MaxAge.D()%1e9 != 0 {
		v.errorf(c.At("max_age"), path+".max_age", "must be a whole number of seconds, got %s", c.MaxAge.D())
	}
}

// originRE is an origin as browsers send it: scheme://host[:port], the
// host possibly holding "*".
var originRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[a-zA-Z0-9*.-]+(:([0-9]{1,5}|\*))?$`)

// originMatch reads one allowed origin.
func originMatch(o string) (OriginMatch, error) {
	if o == AnyOrigin {
		return OriginMatch{Regex: OriginPattern(o)}, nil
	}
	if !originRE.MatchString(o) {
		return OriginMatch{}, fmt.Errorf("%q is not an origin: scheme://host[:port] without a path, such as https://app.example.com or https://*.example.com", o)
	}
	u, err := url.Parse(strings.ReplaceAll(o, "*", "x"))
	if err != nil || u.Host == "" {
		return OriginMatch{}, fmt.Errorf("%q is not an origin: scheme://host[:port], such as https://app.example.com", o)
	}
	if !strings.Contains(o, "*") {
		return OriginMatch{Exact: o}, nil
	}
	return OriginMatch{Regex: OriginPattern(o)}, nil
}

// corsPreflightMatches refuses cors on a route whose methods leave out
// OPTIONS: browsers send their preflight as OPTIONS, which would then
// match another route or none, and never get this route's answer.
// The same holds for request_limits.methods, whose 405 would answer the
// preflight before the CORS filter could.
func (v *validator) corsPreflightMatches(r *Route, path string) {
	if r.CORS == nil {
		return
	}
	if len(r.Match.Methods) > 0 && !slices.Contains(r.Match.Methods, "OPTIONS") {
		v.errorf(r.Match.At("methods"), path+".match.methods", "the route has cors but does not match OPTIONS: add OPTIONS so that browsers' preflights reach its CORS answer (Envoy answers them; they never reach the service)")
	}
	if l := r.RequestLimits; l != nil && len(l.Methods) > 0 && !slices.Contains(l.Methods, "OPTIONS") {
		v.errorf(l.At("methods"), path+".request_limits.methods", "the route has cors but its methods leave out OPTIONS: add OPTIONS, or browsers' preflights get 405")
	}
}
