package xds

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// routesPolicy has one listener and n routes over n/10 services (at least
// one), each route matching its own path prefix. Its version is the one
// given, so that a test can tell which policy is served.
func routesPolicy(t *testing.T, version string, n int) *policy.Policy {
	t.Helper()
	var yaml strings.Builder
	yaml.WriteString("listeners: [{ name: public, port: 8080 }]\nservices:\n")
	services := max(n/10, 1)
	for s := range services {
		yaml.WriteString(ipServiceYAML(fmt.Sprintf("svc-%05d", s), 10000+s%50000))
	}
	yaml.WriteString("routes:\n")
	for r := range n {
		yaml.WriteString(prefixRouteYAML(fmt.Sprintf("r-%06d", r), fmt.Sprintf("/r/%06d", r), fmt.Sprintf("svc-%05d", r%services), ""))
	}
	p := policytest.Load(t, yaml.String())
	p.Version = version
	return p
}

// generation is weak references to what the server built from a policy:
// the policy, its snapshot and a marshalled response shared by its Envoys.
type generation struct {
	policy   weak.Pointer[policy.Policy]
	snapshot weak.Pointer[cachev3.Snapshot]
	routes   weak.Pointer[discoveryv3.DiscoveryResponse]
}

// collected names what of a generation is still reachable.
func (g generation) reachable() []string {
	var out []string
	if g.policy.Value() != nil {
		out = append(out, "policy")
	}
	if g.snapshot.Value() != nil {
		out = append(out, "snapshot")
	}
	if g.routes.Value() != nil {
		out = append(out, "marshalled route response")
	}
	return out
}

// serveGeneration serves p through Check and Update, as the reloader
// does, and has e (subscribed to every type) receive and ACK what changed.
func serveGeneration(t *testing.T, x *testServer, e *sotwStream, p *policy.Policy, changed int, routes ...bool) generation {
	t.Helper()
	if err := x.server.Check(p); err != nil {
		t.Fatal(err)
	}
	if err := x.server.Update(p); err != nil {
		t.Fatal(err)
	}
	for range changed {
		e.ack(e.recv())
	}
	g := generation{policy: weak.Make(p)}
	if len(routes) > 0 && !routes[0] {
		return g // the Envoy does not ask for routes
	}
	x.waitProxy(t, "envoy-a", func(ps ProxyStatus) bool {
		return ps.Acked[resourcev3.RouteType] == x.snapshot(t, DefaultGroup).GetVersion(resourcev3.RouteType)
	})
	snap := x.snapshot(t, DefaultGroup).(*cachev3.Snapshot)
	g.snapshot = weak.Make(snap)
	x.server.shared.mu.Lock()
	defer x.server.shared.mu.Unlock()
	mv := x.server.shared.memo[memoKey{group: DefaultGroup, typeURL: resourcev3.RouteType}]
	if mv == nil || mv.version != snap.GetVersion(resourcev3.RouteType) || len(mv.byNames) != 1 {
		t.Fatalf("no shared route response for version %s", snap.GetVersion(resourcev3.RouteType))
	}
	for _, m := range mv.byNames {
		g.routes = weak.Make(m.resp)
	}
	return g
}

// TestServerForgetsAReplacedGeneration: once a large policy is replaced by
// a small one, nothing of the large one is reachable: not the policy, its
// snapshot, nor its marshalled responses, whether the Envoy took the
// small policy's routes or no longer asks for routes at all (its listener
// removed, say). The memory a 20,000-route policy took is then the
// runtime's to reuse or return (see "Memory" in docs/benchmarks.md).
func TestServerForgetsAReplacedGeneration(t *testing.T) {
	for _, tc := range []struct {
		name        string
		unsubscribe bool
	}{{"routes taken", false}, {"routes no longer asked for", true}} {
		t.Run(tc.name, func(t *testing.T) {
			x := startServer(t)
			e := x.sotw(t, "envoy-a", DefaultGroup)
			big := routesPolicy(t, "big", 2000)
			if err := x.server.Update(big); err != nil {
				t.Fatal(err)
			}
			var services []string
			for name := range big.Services {
				services = append(services, name)
			}
			slices.Sort(services)
			versions := e.subscribeAll(map[string][]string{resourcev3.EndpointType: services, resourcev3.RouteType: {"public"}})
			old := serveGeneration(t, x, e, big, 0)
			big = nil

			// Routes, clusters and endpoints change; the listener does not.
			changed := 3
			if tc.unsubscribe {
				e.send(&discoveryv3.DiscoveryRequest{TypeUrl: resourcev3.RouteType, VersionInfo: versions[resourcev3.RouteType],
					ResponseNonce: lastNonce(x, resourcev3.RouteType)})
				changed = 2
			}
			small := routesPolicy(t, "small", 10)
			serveGeneration(t, x, e, small, changed, !tc.unsubscribe)

			for range 3 {
				runtime.GC()
			}
			if r := old.reachable(); len(r) > 0 {
				t.Errorf("after the small policy replaced the large one, still reachable from the large one: %v", r)
			}
			runtime.KeepAlive(small)
		})
	}
}

// lastNonce is the nonce of the last response of a type sent to the only
// stream.
func lastNonce(x *testServer, typeURL string) string {
	x.server.mu.Lock()
	defer x.server.mu.Unlock()
	for _, st := range x.server.streams {
		return st.sent[typeURL].nonce
	}
	return ""
}

// TestServerKeepsNothingOfARefusedReload: when another component refuses
// a reload after the xDS server prepared it, the prepared generation is
// not kept: the server held a refused 20,000-route policy's snapshots
// until the next reload.
func TestServerKeepsNothingOfARefusedReload(t *testing.T) {
	x := startServer(t)
	if err := x.server.Update(routesPolicy(t, "small", 10)); err != nil {
		t.Fatal(err)
	}
	big := routesPolicy(t, "big", 2000)
	// The reloader drops the commit of a refused reload.
	if _, err := x.server.Prepare(big); err != nil {
		t.Fatal(err)
	}
	refused := weak.Make(big)
	big = nil
	for range 3 {
		runtime.GC()
	}
	if refused.Value() != nil {
		t.Error("the refused policy is still reachable from the xDS server")
	}
	if got := x.metric("tollgate_xds_config_info", map[string]string{"version": "small"}); got != 1 {
		t.Error("the served policy is no longer the small one")
	}
}
