package preflight

import (
	"fmt"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"

	"github.com/tollgate/tollgate/policy"
)

// Shadowed routes and protected services are found with the routing
// decision `tollgate check` makes (policy.Decide, kept in step with a
// real Envoy by e2e/check_test.go), over witness requests: a handful of
// requests each route matches, built from its own conditions. No
// second matcher is written here; a route is judged by where Decide
// sends requests that were made for it.

// witnesses are requests the route's match holds for on a listener: each
// method it names (or a spread of methods), its path (and a longer one
// under a prefix), one host it names, and just the headers and query
// parameters it asks for.
func witnesses(r *policy.Route, l *policy.Listener) []policy.Request {
	m := r.Match
	methods := m.Methods
	if len(methods) == 0 {
		methods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	}
	host := witnessHost(m.Hosts)
	if host == "" {
		host = witnessHost(l.Hosts)
	}
	headers := map[string][]string{}
	for _, h := range m.Headers {
		if v, ok := witnessValue(h); ok {
			headers[strings.ToLower(h.Name)] = []string{v}
		}
	}
	query := witnessQuery(m.Query)
	var out []policy.Request
	for _, path := range witnessPaths(m) {
		for _, method := range methods {
			out = append(out, policy.Request{Listener: l.Name, Method: method, Host: host, Path: path + query, Headers: headers})
		}
	}
	return out
}

func witnessPaths(m policy.Match) []string {
	switch {
	case m.Path != "":
		return []string{m.Path}
	case m.PathRegex != "":
		if p, ok := regexWitness(m.PathRegex); ok {
			return []string{p}
		}
		return nil
	case m.PathPrefix != "":
		deeper := strings.TrimSuffix(m.PathPrefix, "/") + "/preflight"
		return []string{m.PathPrefix, deeper}
	}
	return []string{"/", "/preflight"}
}

// witnessHost is one name a host list answers: the first exact one, or a
// wildcard filled in; "" when any host will do.
func witnessHost(hosts []string) string {
	for _, h := range hosts {
		if h != "*" && !strings.Contains(h, "*") {
			return h
		}
	}
	for _, h := range hosts {
		if h != "*" {
			return strings.ReplaceAll(h, "*", "preflight")
		}
	}
	return "preflight.example"
}

func witnessValue(v *policy.ValueMatch) (string, bool) {
	switch {
	case v.Exact != "":
		return v.Exact, true
	case v.Regex != "":
		return regexWitness(v.Regex)
	case v.Present != nil && !*v.Present:
		return "", false
	}
	return "1", true
}

func witnessQuery(q []*policy.ValueMatch) string {
	var parts []string
	for _, v := range q {
		if val, ok := witnessValue(v); ok {
			parts = append(parts, v.Name+"="+val)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "?" + strings.Join(parts, "&")
}

// regexWitness is one short string the expression matches as a whole: the
// first alternative, one repetition of a plus, none of a star.
func regexWitness(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	if !writeWitness(&b, re.Simplify()) {
		return "", false
	}
	return b.String(), true
}

func writeWitness(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return false
		}
		b.WriteRune(classWitness(re.Rune))
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('a')
	case syntax.OpCapture:
		return writeWitness(b, re.Sub[0])
	case syntax.OpPlus:
		return writeWitness(b, re.Sub[0])
	case syntax.OpRepeat:
		for range re.Min {
			if !writeWitness(b, re.Sub[0]) {
				return false
			}
		}
	case syntax.OpConcat:
		for _, s := range re.Sub {
			if !writeWitness(b, s) {
				return false
			}
		}
	case syntax.OpAlternate:
		return writeWitness(b, re.Sub[0])
	case syntax.OpStar, syntax.OpQuest, syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine,
		syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
	default:
		return false
	}
	return true
}

// classWitness picks a printable character of a class, preferring a
// letter or digit so that the witness stays a plain path.
func classWitness(ranges []rune) rune {
	for i := 0; i+1 < len(ranges); i += 2 {
		for c := ranges[i]; c <= ranges[i+1] && c < 0x7f; c++ {
			if unicode.IsLetter(c) || unicode.IsDigit(c) {
				return c
			}
		}
	}
	return ranges[0]
}

// routeListeners are the listeners a route is attached to.
func routeListeners(p *policy.Policy, r *policy.Route) []*policy.Listener {
	return slices.DeleteFunc(slices.Clone(p.Listeners), func(l *policy.Listener) bool {
		return len(r.Listeners) > 0 && !slices.Contains(r.Listeners, l.Name)
	})
}

// checkShadowedRoutes fails a route every witness of which an earlier
// route takes: on every listener it is attached to, the route is dead
// configuration, and whoever wrote it expected it to run.
func checkShadowedRoutes(p *policy.Policy) Result {
	var f findings
	for _, r := range p.Routes {
		var by *policy.Route
		var example policy.Request
		shadowed, tried := true, 0
		for _, l := range routeListeners(p, r) {
			for _, w := range witnesses(r, l) {
				tried++
				got := p.Decide(w).Route
				if got == r || got == nil {
					shadowed = false
					break
				}
				by, example = got, w
			}
		}
		if shadowed && tried > 0 && by != nil {
			f.add(r.Pos(), "route %s is never reached: route %s (%s) matches its requests first (such as %s %s); move it above, or narrow route %s",
				r.Name, by.Name, by.Pos(), example.Method, example.Path, by.Name)
		}
	}
	return f.result("shadowed-routes", "no route shadowed by an earlier one", fmt.Sprintf("%d routes checked", len(p.Routes)))
}
