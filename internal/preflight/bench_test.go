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
	var b strings.Builder
	b.WriteString(strings.Split(goodPolicy, "routes:\n")[0])
	b.WriteString("routes:\n")
	for i := range n {
		auth := "{ accept: [anonymous, api_key] }\n    rate_limits: [per-ip-anon, per-key]"
		if i%2 == 0 {
			auth = "{ accept: [api_key], scopes: [admin] }\n    rate_limits: [per-key]"
		}
		fmt.Fprintf(&b, "  - name: r%d\n    match: { path_prefix: /r%d/, methods: [GET] }\n    to: %s\n    auth: %s\n",
			i, i, []string{"api", "admin"}[i%2], auth)
	}
	b.WriteString("auth:\n" + strings.Split(goodPolicy, "\nauth:\n")[1])
	return b.String()
}

// BenchmarkStatic runs every static item on policies of 100 and 1000
// routes: shadowed routes and protected services send each route's
// witness requests through Policy.Decide, which walks the routes in
// order, so the cost grows with the square of the route count.
func BenchmarkStatic(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			p := loadCase(b, manyRoutes(n), scopedKeys, nil)
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
