package xds

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/tollgate/tollgate/internal/policytest"
)

func TestRateLimitClusterFollowsOptions(t *testing.T) {
	const limited = `listeners: [{ name: public, port: 8080 }]
services: { api: { endpoints: [127.0.0.1:1] } }
rate_limits: { l: { fixed_window: { limit: 1, window: 1s } } }
routes:
`
	p := policytest.Load(t, limited+prefixRouteYAML("r", "/", "api", "rate_limits: [l]"))
	for addr, want := range map[string]clusterv3.Cluster_DiscoveryType{"10.0.0.5:9000": clusterv3.Cluster_STATIC, "ratelimit.internal:9000": clusterv3.Cluster_STRICT_DNS} {
		res, err := Translate(p, DefaultGroup, Options{RateLimitAddress: addr})
		if err != nil {
			t.Fatal(err)
		}
		var found *clusterv3.Cluster
		for _, c := range res.Clusters {
			if c.GetName() == RateLimitCluster {
				found = c
			}
		}
		if found == nil || found.GetType() != want {
			t.Fatalf("%s: cluster %v", addr, found)
		}
	}
	if _, err := Translate(p, DefaultGroup, Options{RateLimitAddress: "nonsense"}); err == nil {
		t.Error("a bad rate-limit address was accepted")
	}
	// Present without a limited route too, so that limiting a route is
	// a route-only change (see addTollgateClusters).
	p = policytest.Load(t, limited+prefixRouteYAML("r", "/", "api", ""))
	res, err := Translate(p, DefaultGroup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(res.Clusters), RateLimitCluster) {
		t.Errorf("no route is rate limited, and clusters are %v: want %s still", names(res.Clusters), RateLimitCluster)
	}
}
