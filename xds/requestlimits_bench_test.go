package xds

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// limitedPolicy is largePolicy with every route limited the most it can
// be: client_ips and request_limits with methods (its match's, moved
// there), content types and a body limit, so that each route brings five
// generated refusal routes.
func limitedPolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	const route = "    client_ips: { allow: [10.0.0.0/8, 192.168.0.0/16], deny: [10.9.0.0/16] }\n" +
		"    request_limits: { max_body: 1MiB, methods: [GET, HEAD], content_types: [application/json, text/*] }\n"
	var out strings.Builder
	yaml := strings.ReplaceAll(largePolicyYAML(""), "methods: [GET, HEAD], ", "")
	for _, line := range strings.SplitAfter(yaml, "\n") {
		out.WriteString(line)
		if strings.HasPrefix(line, "    to: ") {
			out.WriteString(route)
		}
	}
	return policytest.Load(tb, out.String())
}

// BenchmarkSnapshotInputs10kRoutes measures the snapshot of the limited
// 10,000-route policy and, in the same loop, of the plain one (the
// baseline), and reports their ratio: what client_ips and request_limits
// on every route add to a reload.
func BenchmarkSnapshotInputs10kRoutes(b *testing.B) {
	benchmarkSnapshotAgainst(b, largePolicy(b), limitedPolicy(b), "ms/limited-snapshot")
}
