package xds

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/tollgate/tollgate/policy"
)

// tollgateClustersYAML has a listener of group edge and streams its
// access log to Tollgate, so it needs all three of Tollgate's clusters.
const tollgateClustersYAML = `listeners:
  - { name: edge-http, address: 127.0.0.1, port: 8080, groups: [edge] }
services:
  orders: { endpoints: [127.0.0.1:9001] }
routes:
  - { name: orders, match: { path_prefix: /orders }, to: orders }
access_log: { grpc: true }
`

// loadTestPolicy loads a policy written as the YAML of one file, as
// policy.Load gives it to the translator. Any error fails the test.
func loadTestPolicy(tb testing.TB, yaml string) *policy.Policy {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(yaml), 0o644); err != nil {
		tb.Fatal(err)
	}
	p, err := policy.Load(dir)
	if err != nil {
		tb.Fatalf("loading the test policy: %v", err)
	}
	return p
}

// TestTollgateClustersFollowOneAddressRule checks that the clusters of
// Tollgate's three gRPC services (ext_authz, rate limiting, access logs)
// resolve an address the same way: `serve --grpc-addr :18000` used to give
// tollgate_ratelimit and the access-log cluster an address Envoy rejects.
func TestTollgateClustersFollowOneAddressRule(t *testing.T) {
	cases := []struct {
		addr, dial string
		typ        clusterv3.Cluster_DiscoveryType
	}{
		{"", "127.0.0.1:18000", clusterv3.Cluster_STATIC},
		{":18000", "127.0.0.1:18000", clusterv3.Cluster_STATIC},
		{"0.0.0.0:19000", "127.0.0.1:19000", clusterv3.Cluster_STATIC},
		{"[::]:19001", "[::1]:19001", clusterv3.Cluster_STATIC},
		{"10.1.2.3:9000", "10.1.2.3:9000", clusterv3.Cluster_STATIC},
		{"[fd00::7]:9000", "[fd00::7]:9000", clusterv3.Cluster_STATIC},
		{"tollgate.internal:9000", "tollgate.internal:9000", clusterv3.Cluster_STRICT_DNS},
	}
	p := loadTestPolicy(t, tollgateClustersYAML)
	for _, tc := range cases {
		res, err := Translate(p, "edge", Options{AuthzAddress: tc.addr, RateLimitAddress: tc.addr, AccessLogAddress: tc.addr})
		if err != nil {
			t.Fatalf("%q: %v", tc.addr, err)
		}
		for _, name := range []string{AuthzCluster, RateLimitCluster, accessLogClusterName} {
			c := clusterNamed(res, name)
			if c == nil {
				t.Fatalf("%q: no cluster %s in %v", tc.addr, name, names(res.Clusters))
			}
			if dial := inlineAddress(c); dial != tc.dial || c.GetType() != tc.typ {
				t.Errorf("address %q: %s dials %q (%v), want %q (%v)", tc.addr, name, dial, c.GetType(), tc.dial, tc.typ)
			}
		}
	}
}

// TestTollgateClusterAddressErrorsNameTheOption checks that a bad address
// is a translation error naming the cluster and the Options field.
func TestTollgateClusterAddressErrorsNameTheOption(t *testing.T) {
	p := loadTestPolicy(t, tollgateClustersYAML)
	cases := []struct {
		opts Options
		want string
	}{
		{Options{AuthzAddress: "nowhere"}, `cluster tollgate_authz: Options.AuthzAddress: address "nowhere" is not host:port`},
		{Options{RateLimitAddress: "ratelimit:0"}, `cluster tollgate_ratelimit: Options.RateLimitAddress: address "ratelimit:0": port must be between 1 and 65535`},
		{Options{AccessLogAddress: "[::1]"}, `cluster _tollgate_accesslog: Options.AccessLogAddress: address "[::1]" is not host:port`},
	}
	for _, tc := range cases {
		if _, err := Translate(p, "edge", tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want it to contain %q", tc.opts, err, tc.want)
		}
	}
}

// inlineAddress is the host:port of a cluster's one inline endpoint, or
// "" if it has none.
func inlineAddress(c *clusterv3.Cluster) string {
	for _, l := range c.GetLoadAssignment().GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
		}
	}
	return ""
}

// clusterNamed is the translated cluster of that name, or nil.
func clusterNamed(res *Resources, name string) *clusterv3.Cluster {
	for _, c := range res.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}
