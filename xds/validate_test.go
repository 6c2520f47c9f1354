package xds

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/policy"
)

// breakResources makes Translate corrupt its resources with f, before
// validation, for the rest of the test.
func breakResources(t *testing.T, f func(*Resources)) {
	t.Helper()
	beforeValidate = f
	t.Cleanup(func() { beforeValidate = nil })
}

// basicPolicy is testdata/basic loaded from YAML, so that its elements
// have positions.
func basicPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load(filepath.Join("testdata", "basic", "policy"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInvalidResourcesAreTranslationErrors corrupts one resource of each
// kind the way a translator bug would, and checks that Translate refuses
// it with the resource's name, the constraint it breaks and, when the
// resource comes from the policy, the element's file:line:col. Without
// the check, the resource would go to Envoy, which would NACK it.
func TestInvalidResourcesAreTranslationErrors(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(*Resources)
		want    []string
	}{{
		name: "service cluster",
		corrupt: func(r *Resources) {
			clusterNamed(r, "orders").ConnectTimeout = durationpb.New(-1)
		},
		want: []string{`gateway.yaml:5:11: services.orders: cluster "orders" is not valid Envoy configuration`, "ConnectTimeout"},
	}, {
		name: "route within a route configuration",
		corrupt: func(r *Resources) {
			r.Routes[0].VirtualHosts[0].Routes[0].Match = nil
		},
		want: []string{`gateway.yaml:7:5: routes.orders: route configuration "public" is not valid Envoy configuration`, "Match"},
	}, {
		// ValidateAll does not open Any fields: the connection manager
		// inside the listener is validated because validate unpacks it.
		name: "connection manager packed in a listener",
		corrupt: func(r *Resources) {
			f := r.Listeners[0].FilterChains[0].Filters[0]
			hcm := &hcmv3.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
				panic(err)
			}
			hcm.StatPrefix = ""
			a, err := anypb.New(hcm)
			if err != nil {
				panic(err)
			}
			f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
		},
		want: []string{`gateway.yaml:3:5: listeners.public: listener "public" is not valid Envoy configuration`,
			"filter_chains[0].filters[0].typed_config<envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager>: invalid HttpConnectionManager.StatPrefix", "StatPrefix"},
	}, {
		name: "Tollgate's own cluster",
		corrupt: func(r *Resources) {
			clusterNamed(r, RateLimitCluster).LoadAssignment.Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress().Address = ""
		},
		want: []string{`xds: Options.RateLimitAddress: cluster "tollgate_ratelimit" is not valid Envoy configuration`, "Address"},
	}}
	p := basicPolicy(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			breakResources(t, tc.corrupt)
			_, err := Translate(p, DefaultGroup, Options{})
			if err == nil {
				t.Fatal("an invalid resource was translated")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestServerKeepsServingWhenAResourceIsInvalid checks the whole reload: a
// policy whose translation gives an invalid resource is refused by
// Update, counted as a translation error, and the Envoy is sent nothing:
// the last good snapshot keeps serving.
func TestServerKeepsServingWhenAResourceIsInvalid(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(loadTestPolicy(t, tollgateClustersYAML)); err != nil {
		t.Fatal(err)
	}
	edge := x.sotw(t, "envoy-a", "edge")
	edge.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.ClusterType})
	edge.ack(edge.recv())
	before := x.snapshot(t, "edge")

	next := loadTestPolicy(t, strings.Replace(tollgateClustersYAML, "9001", "9101", 1))
	breakResources(t, func(r *Resources) {
		if c := clusterNamed(r, "orders"); c != nil {
			c.ConnectTimeout = durationpb.New(0)
		}
	})
	if err := x.server.Update(next); err == nil || !strings.Contains(err.Error(), `cluster "orders" is not valid Envoy configuration`) {
		t.Fatalf("Update with an invalid cluster: %v", err)
	}
	if after := x.snapshot(t, "edge"); after != before {
		t.Error("a refused update replaced the snapshot")
	}
	edge.expectNone(200 * time.Millisecond)
	if got := x.metric("tollgate_xds_translation_errors_total", nil); got != 1 {
		t.Errorf("translation errors = %v, want 1", got)
	}
}
