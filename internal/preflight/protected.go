package preflight

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// checkProtectedServices looks for the way a protected service leaks: a
// route that requires credentials (it refuses anonymous callers) guards
// some requests to a service, and the same request written a little
// differently — with or without a trailing slash, a deeper path, upper
// case, without the
// header or query parameter the route matches on — lands on a route
// anonymous callers reach that sends it to the same service. The method
// is kept: a service that is read by anyone and written with a key
// (GET open, POST guarded) is a decision, not a leak.
func checkProtectedServices(p *policy.Policy) Result {
	var f findings
	seen := map[[2]*policy.Route]bool{}
	protected := 0
	for _, r := range p.Routes {
		if !forwards(r) || anonymousReach(r) {
			continue
		}
		protected++
		for _, l := range routeListeners(p, r) {
			for _, w := range witnesses(r, l) {
				for _, v := range variants(w) {
					q := p.Decide(v).Route
					if q == nil || q == r || !anonymousReach(q) || seen[[2]*policy.Route{r, q}] {
						continue
					}
					if s := sharedService(r, q); s != "" {
						seen[[2]*policy.Route{r, q}] = true
						f.add(q.Pos(), "service %s is protected by route %s (%s), but %s %s reaches it without credentials through route %s; require auth on route %s or narrow its match",
							s, r.Name, r.Pos(), v.Method, v.Path, q.Name, q.Name)
					}
				}
			}
		}
	}
	return f.result("protected-services", "no protected service reachable through a public route",
		fmt.Sprintf("routes requiring credentials: %d", protected))
}

// variants are requests near w that a careless match lets slip.
func variants(w policy.Request) []policy.Request {
	path, query, _ := strings.Cut(w.Path, "?")
	if query != "" {
		query = "?" + query
	}
	var out []policy.Request
	trimmed := strings.TrimSuffix(path, "/")
	for _, p := range []string{path + "/", trimmed, trimmed + "/preflight", strings.ToUpper(path)} {
		if p == "" || p == path {
			continue
		}
		v := w
		v.Path = p + query
		out = append(out, v)
	}
	bare := w
	bare.Path, bare.Headers = path, nil
	return append(out, bare)
}

// sharedService is a service both routes send to, or "".
func sharedService(a, b *policy.Route) string {
	for _, d := range a.To {
		if slices.ContainsFunc(b.To, func(e *policy.Destination) bool { return e.Service == d.Service }) {
			return d.Service
		}
	}
	return ""
}
