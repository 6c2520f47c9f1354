package policy

import "regexp"

// routing is what Decide reads on every request, built once when the
// policy is loaded: each listener's routes and every regular expression
// the routes' matches use, compiled. Rebuilding both per call made
// `tollgate preflight`, which sends several requests per route through
// Decide, slow on large policies. It is never written after Load, so
// concurrent Decide calls share it without locking. A policy built by
// hand has none and Decide computes the same answers uncached.
type routing struct {
	routes  map[string][]*Route // by listener name, as RoutesFor
	regexps regexps
}

// regexps are compiled expressions by their source text.
type regexps map[string]*regexp.Regexp

// newRouting indexes a loaded, valid policy.
func newRouting(p *Policy) *routing {
	rt := &routing{routes: map[string][]*Route{}, regexps: regexps{}}
	for _, l := range p.Listeners {
		rt.routes[l.Name] = p.RoutesFor(l.Name)
	}
	for _, route := range p.Routes {
		rt.regexps.addMatch(&route.Match)
	}
	return rt
}

// addMatch compiles every expression matches evaluates for m.
func (c regexps) addMatch(m *Match) {
	if m.PathRegex != "" {
		c.add(anchored(m.PathRegex))
	}
	if expr := HostPattern(m.Hosts); expr != "" {
		c.add(expr)
	}
	for _, v := range m.Headers {
		if v.Regex != "" {
			c.add(anchored(v.Regex))
		}
	}
	for _, v := range m.Query {
		if v.Present != nil && !*v.Present {
			c.add(QueryParamPattern(v.Name))
		}
		if v.Regex != "" {
			c.add(anchored(v.Regex))
		}
	}
}

// add compiles expr; validation refused invalid expressions, and one that
// still fails is left out so that matching it compiles, fails and
// matches nothing, as uncached.
func (c regexps) add(expr string) {
	if re, err := regexp.Compile(expr); err == nil {
		c[expr] = re
	}
}

// matches is regexMatches with the compiled expression when there is one.
func (c regexps) matches(expr, s string) bool {
	if re, ok := c[expr]; ok {
		return re.MatchString(s)
	}
	return regexMatches(expr, s)
}

// fullMatch is the package's fullMatch through c.
func (c regexps) fullMatch(expr, s string) bool {
	return c.matches(anchored(expr), s)
}

// anchored is expr made to match the whole string, as Envoy's safe_regex
// matchers do.
func anchored(expr string) string {
	return `^(?:` + expr + `)$`
}

// routesFor is RoutesFor from the index when the policy has one.
func (p *Policy) routesFor(listener string) []*Route {
	if p.routing != nil {
		return p.routing.routes[listener]
	}
	return p.RoutesFor(listener)
}

// regexps are the policy's compiled expressions; nil (compile per call)
// for a policy built by hand.
func (p *Policy) regexps() regexps {
	if p.routing == nil {
		return nil
	}
	return p.routing.regexps
}
