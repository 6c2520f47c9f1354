package preflight

import (
	"fmt"
	"strings"
	"testing"
)

// manyRoutes is a policy of n prefix routes to two services, half of
// them requiring an API key, every one distinct (no shadowing), in the
// shape large policies have.
func manyRoutes(n int) string {
	return manyRoutesMatching(n, "path_prefix: /r%d/")
}

// manyRoutesMatching is manyRoutes with each route's path condition
// written by match, a format of the route's number: "path_regex:
// /r%d/.*" makes Decide evaluate a regular expression per route.
func manyRoutesMatching(n int, match string) string {
	var b strings.Builder
	b.WriteString(strings.Split(goodPolicy, "routes:\n")[0])
	b.WriteString("routes:\n")
	for i := range n {
		auth := "{ accept: [anonymous, api_key] }\n    rate_limits: [per-ip-anon, per-key]"
		if i%2 == 0 {
			auth = "{ accept: [api_key], scopes: [admin] }\n    rate_limits: [per-key]"
		}
		fmt.Fprintf(&b, "  - name: r%d\n    match: { %s, methods: [GET] }\n    to: %s\n    auth: %s\n",
			i, fmt.Sprintf(match, i), []string{"api", "admin"}[i%2], auth)
	}
	b.WriteString("auth:\n" + strings.Split(goodPolicy, "\nauth:\n")[1])
	return b.String()
}

// BenchmarkStatic runs every static item on policies of 100 and 1000
// routes, and of 1000 routes that match a path_regex each: shadowed routes and protected services send each route's
// witness requests through Policy.Decide, which walks the routes in
// order, so the cost grows with the square of the route count.
func BenchmarkStatic(b *testing.B) {
	for _, c := range []struct {
		name, policy string
	}{
		{"routes=100", manyRoutes(100)},
		{"routes=1000", manyRoutes(1000)},
		{"routes=1000,regex", manyRoutesMatching(1000, `path_regex: "/r%d/.*"`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := loadCase(b, c.policy, scopedKeys, nil)
			b.ResetTimer()
			for range b.N {
				for _, r := range Static(p, StaticOptions{CertDays: 30}) {
					if r.Status == Fail {
						b.Fatalf("%s failed: %+v", r.ID, r.Findings[0])
					}
				}
			}
		})
	}
}
