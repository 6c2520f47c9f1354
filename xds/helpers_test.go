package xds

import (
	"fmt"
	"strings"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// Test policies are written as YAML and loaded through policytest.Load,
// so the translator is only ever tested on what Load gives it: resolved
// values, with every default applied.

// ipServiceYAML is a services entry with loopback endpoints on the given
// ports.
func ipServiceYAML(name string, ports ...int) string {
	endpoints := make([]string, len(ports))
	for i, port := range ports {
		endpoints[i] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return fmt.Sprintf("  %s: { endpoints: [%s] }\n", name, strings.Join(endpoints, ", "))
}

// prefixRouteYAML is a routes entry sending a path prefix to one service;
// extra is more fields of the route, such as "listeners: [edge-http]".
func prefixRouteYAML(name, prefix, service, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("  - { name: %s, match: { path_prefix: %s }, to: %s%s }\n", name, prefix, service, extra)
}

// twoGroupYAML has listener "edge-http" for group "edge" routing to
// orders, and "internal-http" for group "internal" routing to ledger.
const twoGroupYAML = `listeners:
  - { name: edge-http, address: 127.0.0.1, port: 8080, groups: [edge] }
  - { name: internal-http, address: 127.0.0.1, port: 9090, groups: [internal] }
services:
  orders: { endpoints: [127.0.0.1:9001] }
  ledger: { endpoints: [127.0.0.1:9002] }
routes:
  - { name: orders, listeners: [edge-http], match: { path_prefix: /orders }, to: orders }
  - { name: ledger, listeners: [internal-http], match: { path_prefix: /ledger }, to: ledger }
`

// twoGroupPolicy is twoGroupYAML, loaded; more is YAML documents merged
// into it (each starting with "---").
func twoGroupPolicy(tb testing.TB, more ...string) *policy.Policy {
	tb.Helper()
	return policytest.Load(tb, twoGroupYAML+strings.Join(more, ""))
}

// groupSnapshot is the snapshot of the current generation served to a
// group's Envoys, or nil.
func (s *Server) groupSnapshot(group string) *cachev3.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.groups[group]
}

// snapshotOf translates p for a group.
func (x *testServer) snapshotOf(t *testing.T, p *policy.Policy, group string) *cachev3.Snapshot {
	t.Helper()
	snap, err := Snapshot(p, group, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
