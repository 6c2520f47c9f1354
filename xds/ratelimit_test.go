package xds

import (
	"slices"
	"testing"

	"github.com/tollgate/tollgate/policy"
)

// TestRateLimitClusterIsAlwaysThere: see addTollgateClusters.
func TestRateLimitClusterIsAlwaysThere(t *testing.T) {
	p := &policy.Policy{
		Listeners:  []*policy.Listener{{Name: "public", Port: 8080}},
		Services:   map[string]*policy.Service{"api": {Name: "api", Endpoints: []*policy.Endpoint{{Address: "127.0.0.1:1", Host: "127.0.0.1", Port: 1}}}},
		Routes:     []*policy.Route{{Name: "r", To: policy.Destinations{{Service: "api"}}, RateLimits: []string{"l"}}},
		RateLimits: map[string]*policy.RateLimit{"l": {Name: "l", FixedWindow: &policy.Window{Limit: 1, Window: policy.Duration(1e9)}}},
	}
	// Present without a limited route too, so that limiting a route is
	// a route-only change (see addTollgateClusters).
	p.Routes[0].RateLimits = nil
	res, err := Translate(p, DefaultGroup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(res.Clusters), RateLimitCluster) {
		t.Errorf("no route is rate limited, and clusters are %v: want %s still", names(res.Clusters), RateLimitCluster)
	}
}
