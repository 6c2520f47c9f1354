package policy

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// validate checks the merged policy and records every problem in errs. It
// runs before defaults, so it can tell a field left out from one written.
func validate(p *Policy, errs *Errors) {
	v := &validator{p: p, errs: errs}
	listeners := v.listeners()
	for _, name := range p.ServiceNames() {
		v.service(p.Services[name])
	}
	v.routes(listeners)
	v.routeActions()
	v.resilience()
	v.tls()
	v.rateLimits()
	v.rateLimitHeaders()
	v.observability()
	v.auth()
	v.reloadGuard()
	v.rollout()
	v.traffic()
	v.headerChanges()
	v.cors()
}

type validator struct {
	p    *Policy
	errs *Errors
}

func (v *validator) errorf(pos Pos, path, format string, args ...any) {
	v.errs.addf(pos, path, format, args...)
}

// names tracks where each name was first declared, to report duplicates.
type names map[string]Pos

func (v *validator) unique(seen names, kind, name string, pos Pos, path string) {
	if first, dup := seen[name]; dup {
		v.errorf(pos, path, "%s %q is already defined at %s", kind, name, first)
		return
	}
	seen[name] = pos
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$`)

func (v *validator) name(s Source, kind, name, path string) bool {
	switch {
	case name == "":
		v.errorf(s.Pos(), path, "%s needs a name", kind)
	case !nameRE.MatchString(name):
		v.errorf(s.At("name"), path+".name", "%q is not a valid name: use lower-case letters, digits, '.', '_' and '-' (at most 63)", name)
	default:
		return true
	}
	return false
}

func (v *validator) listeners() names {
	seen, addrs := names{}, names{}
	for i, l := range v.p.Listeners {
		path := listPath("listeners", i, l.Name)
		if v.name(l.Source, "listener", l.Name, path) {
			v.unique(seen, "listener", l.Name, l.At("name"), indexPath("listeners", i)+".name")
		}
		if l.Address != "" {
			if _, err := netip.ParseAddr(l.Address); err != nil {
				v.errorf(l.At("address"), path+".address", "%q is not an IP address", l.Address)
			}
		}
		if l.Port < 1 || l.Port > 65535 {
			v.errorf(l.At("port"), path+".port", "port must be between 1 and 65535, got %d", l.Port)
		}
		addr := net.JoinHostPort(cmp.Or(l.Address, DefaultListenerAddress), strconv.Itoa(l.Port))
		v.unique(addrs, "address", addr, l.At("port"), path+".port")
		for j, h := range l.Hosts {
			v.host(h, l.At("hosts"), fmt.Sprintf("%s.hosts[%d]", path, j))
		}
		v.keepClientHeaders(l, path)
		v.clientAddress(l, path)
		v.clientIPs(l.ClientIPs, path)
		v.listenerRequestLimits(l, path)
	}
	return seen
}

var hostRE = regexp.MustCompile(`^(\*|(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(:[0-9]{1,5})?$`)

func (v *validator) host(h string, pos Pos, path string) {
	if !hostRE.MatchString(h) {
		v.errorf(pos, path, "%q is not a host name (wildcards: \"*\" or \"*.example.com\")", h)
	}
}

var loadBalancings = []LoadBalancing{RoundRobin, LeastRequest, Random, RingHash}

func (v *validator) service(s *Service) {
	path := mapPath("services", s.Name)
	if !nameRE.MatchString(s.Name) {
		v.errorf(s.Pos(), path, "%q is not a valid service name: use lower-case letters, digits, '.', '_' and '-' (at most 63)", s.Name)
	}
	if len(s.Endpoints) == 0 {
		v.errorf(s.Pos(), path+".endpoints", "a service needs at least one endpoint")
	}
	seen := names{}
	for i, e := range s.Endpoints {
		epath := fmt.Sprintf("%s.endpoints[%d]", path, i)
		v.endpoint(e, epath)
		v.unique(seen, "endpoint", e.Address, e.At("address"), epath)
	}
	if s.LoadBalancing != "" && !slices.Contains(loadBalancings, s.LoadBalancing) {
		v.errorf(s.At("load_balancing"), path+".load_balancing", "unknown load balancing %q; expected one of: round_robin, least_request, random, ring_hash", s.LoadBalancing)
	}
	v.hashOn(s, path)
	if s.Has("connect_timeout") && s.ConnectTimeout <= 0 {
		v.errorf(s.At("connect_timeout"), path+".connect_timeout", "must be positive")
	}
}

func (v *validator) endpoint(e *Endpoint, path string) {
	host, port, err := net.SplitHostPort(e.Address)
	if err != nil || host == "" {
		v.errorf(e.At("address"), path, "%q is not host:port", e.Address)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		v.errorf(e.At("address"), path, "port %q must be between 1 and 65535", port)
		return
	}
	if _, ipErr := netip.ParseAddr(host); ipErr != nil && !hostRE.MatchString(host) || strings.Contains(host, "*") {
		v.errorf(e.At("address"), path, "%q is neither an IP address nor a DNS name", host)
		return
	}
	e.Host, e.Port = host, n
	if e.Has("weight") && (e.Weight < 1 || e.Weight > 128) {
		v.errorf(e.At("weight"), path+".weight", "weight must be between 1 and 128, got %d", e.Weight)
	}
}

func (v *validator) hashOn(s *Service, path string) {
	h := s.HashOn
	switch {
	case s.LoadBalancing == RingHash && h == nil:
		v.errorf(s.At("load_balancing"), path+".hash_on", "ring_hash needs hash_on: { header: NAME } or { client_ip: true }")
	case s.LoadBalancing != RingHash && h != nil:
		v.errorf(s.At("hash_on"), path+".hash_on", "hash_on only applies with load_balancing: ring_hash")
	case h != nil && (h.Header == "") == !h.ClientIP:
		v.errorf(s.At("hash_on"), path+".hash_on", "set exactly one of header or client_ip")
	case h != nil && h.Header != "":
		v.headerName(h.Header, h.At("header"), path+".hash_on.header")
	}
}

var headerNameRE = regexp.MustCompile("^[a-zA-Z0-9!#$%&'*+.^_`|~-]+$")

func (v *validator) headerName(name string, pos Pos, path string) {
	if !headerNameRE.MatchString(name) {
		v.errorf(pos, path, "%q is not a valid header name", name)
	}
}

func (v *validator) routes(listeners names) {
	seen := names{}
	for i, r := range v.p.Routes {
		path := listPath("routes", i, r.Name)
		if v.name(r.Source, "route", r.Name, path) {
			v.unique(seen, "route", r.Name, r.At("name"), indexPath("routes", i)+".name")
		}
		for _, l := range r.Listeners {
			if _, ok := listeners[l]; !ok {
				v.errorf(r.At("listeners"), path+".listeners", "unknown listener %q", l)
			}
		}
		v.match(&r.Match, path+".match")
		v.routeTarget(r, path)
		v.clientIPs(r.ClientIPs, path)
		v.routeRequestLimits(r, path)
	}
	if len(v.p.Routes) > 0 && len(v.p.Listeners) == 0 {
		v.errorf(v.p.Routes[0].Pos(), "listeners", "routes are defined but no listener is")
	}
}

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

func (v *validator) match(m *Match, path string) {
	forms := 0
	for _, f := range []string{"path_prefix", "path", "path_regex"} {
		if m.Has(f) {
			forms++
		}
	}
	if forms > 1 {
		v.errorf(m.Pos(), path, "set at most one of path_prefix, path and path_regex")
	}
	if m.Has("path_prefix") && !strings.HasPrefix(m.PathPrefix, "/") {
		v.errorf(m.At("path_prefix"), path+".path_prefix", "must start with /, got %q", m.PathPrefix)
	}
	if m.Has("path") && !strings.HasPrefix(m.Path, "/") {
		v.errorf(m.At("path"), path+".path", "must start with /, got %q", m.Path)
	}
	v.matchablePath(m, "path_prefix", m.PathPrefix, path)
	v.matchablePath(m, "path", m.Path, path)
	if m.Has("path_regex") {
		v.regex(m.PathRegex, m.At("path_regex"), path+".path_regex")
	}
	for j, h := range m.Hosts {
		v.host(h, m.At("hosts"), fmt.Sprintf("%s.hosts[%d]", path, j))
	}
	for _, method := range m.Methods {
		if !slices.Contains(methods, method) {
			v.errorf(m.At("methods"), path+".methods", "unknown method %q; expected upper-case, one of: %s", method, strings.Join(methods, ", "))
		}
	}
	for j, h := range m.Headers {
		v.valueMatch(h, fmt.Sprintf("%s.headers[%d]", path, j), true)
		v.notGatewaySet(h, fmt.Sprintf("%s.headers[%d].name", path, j))
	}
	for j, q := range m.Query {
		v.valueMatch(q, fmt.Sprintf("%s.query[%d]", path, j), false)
	}
}

// matchablePath refuses a path or prefix holding a byte Envoy never
// matches: it compares bytes, refuses non-ASCII and control characters in
// a request path (400) and escapes a space, so such a route could never be
// taken as written.
func (v *validator) matchablePath(m *Match, field, p, path string) {
	if !m.Has(field) {
		return
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			v.errorf(m.At(field), path+"."+field, "%q holds a byte Envoy cannot match in a path (only ASCII 0x21-0x7E; write others percent-encoded)", p)
			return
		}
	}
}

// notGatewaySet refuses a header condition on a header the gateway sets
// or removes: Envoy picks the route before it strips the client's value,
// so the condition would match what the client forged.
func (v *validator) notGatewaySet(h *ValueMatch, path string) {
	if v.p.GatewaySetHeader(h.Name) {
		v.errorf(h.At("name"), path, "%q is set by the gateway: Envoy picks the route before the client's value is removed, so a client could forge it; match on another header", h.Name)
	}
}

// MaxRegexProgramSize bounds the compiled size of a policy's regular
// expressions. Envoy refuses RE2 programs above a runtime limit (100 by
// default; Tollgate's bootstrap sets 2000): counting Go's program, which
// is within a few percent of RE2's, against half of that keeps every
// expression Tollgate accepts acceptable to Envoy.
const MaxRegexProgramSize = 1000

func (v *validator) regex(expr string, pos Pos, path string) {
	// Envoy uses RE2, whose syntax Go's regexp shares.
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		v.errorf(pos, path, "invalid regular expression: %s", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		v.errorf(pos, path, "invalid regular expression: %s", err)
		return
	}
	if n := len(prog.Inst); n > MaxRegexProgramSize {
		v.errorf(pos, path, "regular expression too large for Envoy (program size %d, at most %d): simplify it, e.g. use + instead of a large {n}", n, MaxRegexProgramSize)
	}
}

func (v *validator) valueMatch(m *ValueMatch, path string, header bool) {
	if m.Name == "" {
		v.errorf(m.Pos(), path+".name", "needs a name")
	} else if header {
		v.headerName(m.Name, m.At("name"), path+".name")
	}
	set := 0
	for _, f := range []string{"exact", "regex", "present"} {
		if m.Has(f) {
			set++
		}
	}
	if set != 1 {
		v.errorf(m.Pos(), path, "set exactly one of exact, regex and present")
	}
	if m.Has("regex") {
		v.regex(m.Regex, m.At("regex"), path+".regex")
	}
	if n := utf8.RuneCountInString(m.Exact); header && m.Has("exact") && n > MaxExactHeaderValueLength {
		v.errorf(m.At("exact"), path+".exact", "a header value of %d characters is too long to match exactly (at most %d)", n, MaxExactHeaderValueLength)
	}
}

// MaxExactHeaderValueLength bounds an exact header value, in characters:
// Envoy also receives the value's inverse as a regular expression
// (HeaderNotExactPattern), whose program grows with the value and must
// stay within Envoy's limit (300 characters were refused; 140 are
// accepted, ASCII or not).
const MaxExactHeaderValueLength = 140

func (v *validator) destinations(r *Route, path string) {
	if len(r.To) == 0 {
		v.errorf(r.Pos(), path, "a route needs a destination: to: SERVICE, or a list of {service, weight}")
		return
	}
	split := len(r.To) > 1
	total := 0
	for j, d := range r.To {
		dpath := fmt.Sprintf("%s[%d]", path, j)
		if _, ok := v.p.Services[d.Service]; !ok {
			v.errorf(d.At("service"), dpath+".service", "unknown service %q", d.Service)
		}
		switch {
		case split && !d.Has("weight"):
			v.errorf(d.Pos(), dpath+".weight", "each service of a split needs a weight")
		case d.Has("weight") && (d.Weight < 0 || d.Weight > 1_000_000):
			v.errorf(d.At("weight"), dpath+".weight", "weight must be between 0 and 1000000, got %d", d.Weight)
		}
		total += d.Weight
	}
	if split && total == 0 {
		v.errorf(r.At("to"), path, "the weights of a split add up to 0")
	}
}
