package xds

import (
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// methodHeader is the HTTP/2 pseudo-header Envoy exposes the method as, for
// HTTP/1 requests too.
const methodHeader = ":method"

// pathHeader is the pseudo-header holding the path with its query string.
const pathHeader = ":path"

// authorityHeader is the pseudo-header holding the request's host (the
// Host header of HTTP/1 requests).
const authorityHeader = ":authority"

// routeMatch translates a policy match; every condition must hold.
// policy/match.go makes the same decision over a plain request (for
// `tollgate check`); a change here must be made there too, and
// e2e/check_test.go compares the two through a real Envoy.
func routeMatch(m *policy.Match) *routev3.RouteMatch {
	rm := pathMatch(m)
	if h := hostMatcher(m.Hosts); h != nil {
		rm.Headers = append(rm.Headers, h)
	}
	if h := methodMatcher(m.Methods); h != nil {
		rm.Headers = append(rm.Headers, h)
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, headerMatchers(h)...)
	}
	for _, q := range m.Query {
		if q.Present != nil && !*q.Present {
			rm.Headers = append(rm.Headers, queryAbsentMatcher(q.Name))
			continue
		}
		rm.QueryParameters = append(rm.QueryParameters, queryMatcher(q))
	}
	return rm
}

// pathMatch translates the path form of a match. Load gives a match
// without one path_prefix "/", and an empty match means the same here.
//
// Paths and prefixes match regardless of case: many services route
// "/ADMIN" as "/admin", and a case-sensitive gateway would send it down a
// public route next to the protected one. Regular expressions are the
// policy's own and keep their case (write (?i) for the same).
func pathMatch(m *policy.Match) *routev3.RouteMatch {
	anyCase := wrapperspb.Bool(false)
	switch {
	case m.Path != "":
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: m.Path}, CaseSensitive: anyCase}
	case m.PathRegex != "":
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: regex(m.PathRegex)}}
	case m.PathPrefix != "":
		return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: m.PathPrefix}, CaseSensitive: anyCase}
	}
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
}

// hostMatcher matches the request's host against a route's host names
// with Envoy's domain rules: case-insensitive, "*.example.com" matching
// any name ending in ".example.com", and a port in the request ignored
// unless the pattern names one. Host conditions are route conditions (not
// virtual hosts of their own) so that routes keep their policy order
// whatever hosts they name, and each route appears in the configuration
// once.
func hostMatcher(hosts []string) *routev3.HeaderMatcher {
	expr := policy.HostPattern(hosts)
	if expr == "" {
		return nil
	}
	return stringHeaderMatcher(authorityHeader, safeRegex(expr))
}

// methodMatcher matches the request method: one method exactly, several
// with one anchored alternation such as ^(GET|HEAD)$, which keeps a single
// header matcher per route whatever the number of methods.
func methodMatcher(methods []string) *routev3.HeaderMatcher {
	switch len(methods) {
	case 0:
		return nil
	case 1:
		return stringHeaderMatcher(methodHeader, exact(methods[0]))
	}
	quoted := make([]string, len(methods))
	for i, m := range methods {
		quoted[i] = regexp.QuoteMeta(m)
	}
	return stringHeaderMatcher(methodHeader, safeRegex("^("+strings.Join(quoted, "|")+")$"))
}

// headerMatchers match one request header. present: false matches
// requests without the header. Envoy tests each value of a repeated header
// on its own and takes the route when one matches; an exact condition
// therefore comes with its inverse (no value other than the expected one),
// so that "x-tenant: evil" plus "x-tenant: acme" does not take a route for
// acme while the service reads "evil, acme". A regex condition holds when
// one value matches (docs/policy.md says so).
func headerMatchers(v *policy.ValueMatch) []*routev3.HeaderMatcher {
	switch {
	case v.Present != nil:
		return []*routev3.HeaderMatcher{{
			Name:                 v.Name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: *v.Present},
		}}
	case v.Regex != "":
		return []*routev3.HeaderMatcher{stringHeaderMatcher(v.Name, safeRegex(v.Regex))}
	}
	other := stringHeaderMatcher(v.Name, safeRegex(policy.HeaderNotExactPattern(v.Exact)))
	other.InvertMatch = true
	return []*routev3.HeaderMatcher{stringHeaderMatcher(v.Name, exact(v.Exact)), other}
}

// queryMatcher matches one query parameter by value or by presence.
func queryMatcher(v *policy.ValueMatch) *routev3.QueryParameterMatcher {
	qm := &routev3.QueryParameterMatcher{Name: v.Name}
	switch {
	case v.Present != nil:
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
	case v.Regex != "":
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: safeRegex(v.Regex)}
	default:
		qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: exact(v.Exact)}
	}
	return qm
}

// queryAbsentMatcher matches requests whose query string lacks a
// parameter. Envoy's query matcher cannot say "absent" (its present_match
// false still requires the parameter), so this inverts a match of the
// parameter's name against the :path pseudo-header, which carries the query.
func queryAbsentMatcher(name string) *routev3.HeaderMatcher {
	m := stringHeaderMatcher(pathHeader, safeRegex(policy.QueryParamPattern(name)))
	m.InvertMatch = true
	return m
}

// stringHeaderMatcher matches a header's value with a string matcher.
func stringHeaderMatcher(name string, sm *matcherv3.StringMatcher) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{
		Name:                 name,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm},
	}
}

// exact matches a string exactly.
func exact(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// safeRegex matches a whole string with a regular expression.
func safeRegex(expr string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(expr)}}
}

// regex is an RE2 expression. The engine is left unset: RE2 is Envoy's
// default, and the google_re2 engine field is deprecated in Envoy 1.40.
func regex(expr string) *matcherv3.RegexMatcher {
	return &matcherv3.RegexMatcher{Regex: expr}
}
