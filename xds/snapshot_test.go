package xds

import (
	"slices"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/tollgate/tollgate/policy"
)

func TestSnapshotVersionsFollowContentPerType(t *testing.T) {
	tests := []struct {
		name    string
		change  func(p *policy.Policy)
		changed []string // type URLs whose version must change; the others must not
	}{
		{"route path", func(p *policy.Policy) { p.Routes[0].Match.PathPrefix = "/v2/orders" }, []string{resourcev3.RouteType}},
		{"endpoint weight", func(p *policy.Policy) { p.Services["orders"].Endpoints[0].Weight = 5 }, []string{resourcev3.EndpointType}},
		{"connect timeout", func(p *policy.Policy) { p.Services["orders"].ConnectTimeout = policy.Duration(5e9) }, []string{resourcev3.ClusterType}},
		{"listener port", func(p *policy.Policy) { p.Listeners[0].Port = 8443 }, []string{resourcev3.ListenerType}},
		{"other group only", func(p *policy.Policy) { p.Routes[1].Match.PathPrefix = "/v2/ledger" }, nil},
		{"policy version only", func(p *policy.Policy) { p.Version = "v2" }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := twoGroupPolicy(t)
			before, err := Snapshot(p, "edge", Options{})
			if err != nil {
				t.Fatal(err)
			}
			tt.change(p)
			after, err := Snapshot(p, "edge", Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, typ := range servedTypes {
				want := slices.Contains(tt.changed, typ)
				if got := before.GetVersion(typ) != after.GetVersion(typ); got != want {
					t.Errorf("%s: version changed = %v, want %v", typ, got, want)
				}
			}
		})
	}
}

func TestSnapshotIsConsistent(t *testing.T) {
	snap, err := Snapshot(twoGroupPolicy(t), "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Consistent(); err != nil {
		t.Fatal(err)
	}
	for _, typ := range servedTypes {
		if snap.GetVersion(typ) == "" {
			t.Errorf("%s has no version", typ)
		}
	}
	if got := len(snap.GetResources(resourcev3.EndpointType)); got != 1 {
		t.Errorf("%d endpoint assignments, want 1 (orders; Tollgate's own clusters carry theirs inline)", got)
	}
}
