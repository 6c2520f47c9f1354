package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHotReloadAddsARoute(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name  string
		delta bool
	}{{"sotw", false}, {"delta", true}} {
		t.Run(mode.name, func(t *testing.T) {
			g := startGateway(t, map[string]string{
				"gateway.yaml": listenerYAML + servicesYAML(t, "old", "new"),
				"routes.yaml":  "routes:\n  - { name: old, match: { path_prefix: /old }, to: old }\n",
			}, mode.delta, "/old", "old")
			if status, _ := call("GET", g.base+"/new", nil); status != 404 {
				t.Fatalf("before the edit /new answered %d, want 404", status)
			}
			start := time.Now()
			writeFile(t, filepath.Join(g.dir, "routes.yaml"),
				"routes:\n  - { name: old, match: { path_prefix: /old }, to: old }\n  - { name: new, match: { path_prefix: /new }, to: new }\n")
			waitService(t, g.base+"/new", nil, "new")
			t.Logf("%s: a new route was served %v after the file was written", mode.name, time.Since(start).Round(time.Millisecond))
			waitService(t, g.base+"/old", nil, "old")
		})
	}
}

func TestBrokenEditKeepsTheLastGoodPolicy(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "orders"),
		"routes.yaml":  "routes:\n  - { name: orders, match: { path_prefix: /orders }, to: orders }\n",
	}, false, "/orders", "orders")

	routes := filepath.Join(g.dir, "routes.yaml")
	writeFile(t, routes, "routes:\n  - { name: orders, match: { path_prefix: /orders }, to: orders }\n  - { name: broken, match: { path_prefix: /broken }, to: nowhere }\n")
	want := routes + `:3:58: routes.broken.to[0].service: unknown service`
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(g.tollgate.log.String(), want) {
			return fmt.Errorf("tollgate log does not name the error %q", want)
		}
		return nil
	})
	if got := g.tollgate.metric(t, `tollgate_policy_reloads_total{result="rejected"}`); got == "" || got == "0" {
		t.Errorf("rejected reloads metric = %q, want > 0", got)
	}
	if got := g.tollgate.metric(t, "tollgate_policy_last_reload_successful"); got != "0" {
		t.Errorf("last_reload_successful = %q, want 0", got)
	}
	// Envoy still serves the previous policy.
	for range 20 {
		if status, r := call("GET", g.base+"/orders", nil); status != 200 || r.Service != "orders" {
			t.Fatalf("after a broken edit /orders answered %d from %q", status, r.Service)
		}
	}
	if status, _ := call("GET", g.base+"/broken", nil); status != 404 {
		t.Errorf("/broken answered %d, want 404: the broken policy must not be applied", status)
	}
	// Fixing the file applies it.
	writeFile(t, routes, "routes:\n  - { name: orders, match: { path_prefix: /orders }, to: orders }\n  - { name: fixed, match: { path_prefix: /fixed }, to: orders }\n")
	waitService(t, g.base+"/fixed", nil, "orders")
}

func TestEnvoyKeepsServingWhileTollgateRestarts(t *testing.T) {
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "a", "b"),
		"routes.yaml":  "routes:\n  - { name: a, match: { path_prefix: /a }, to: a }\n",
	}, false, "/a", "a")

	g.tollgate.stop()
	// With the control plane gone, the data plane is unaffected.
	for range 20 {
		if status, r := call("GET", g.base+"/a", nil); status != 200 || r.Service != "a" {
			t.Fatalf("with Tollgate down /a answered %d from %q", status, r.Service)
		}
		time.Sleep(25 * time.Millisecond)
	}
	writeFile(t, filepath.Join(g.dir, "routes.yaml"),
		"routes:\n  - { name: a, match: { path_prefix: /a }, to: a }\n  - { name: b, match: { path_prefix: /b }, to: b }\n")
	if status, _ := call("GET", g.base+"/b", nil); status != 404 {
		t.Fatalf("/b answered %d before Tollgate came back", status)
	}
	start := time.Now()
	startTollgate(t, g.dir, g.tollgate.grpcAddr)
	eventually(t, 40*time.Second, func() error {
		if status, r := call("GET", g.base+"/b", nil); status != 200 || r.Service != "b" {
			return fmt.Errorf("/b answered %d from %q", status, r.Service)
		}
		return nil
	})
	t.Logf("Envoy picked up the new policy %v after Tollgate restarted", time.Since(start).Round(time.Millisecond))
	waitService(t, g.base+"/a", nil, "a")
}

func TestNodeGroupsReceiveTheirOwnConfiguration(t *testing.T) {
	t.Parallel()
	requireEnvoy(t)
	edgeAddr, internalAddr := freeAddr(t), freeAddr(t)
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	dir := policyDir(t, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners:
  - { name: edge, address: 127.0.0.1, port: %s, groups: [edge] }
  - { name: internal, address: 127.0.0.1, port: %s, groups: [internal] }
%s
routes:
  - { name: edge, listeners: [edge], to: edge-api }
  - { name: internal, listeners: [internal], to: internal-api }
`, port(edgeAddr), port(internalAddr), servicesYAML(t, "edge-api", "internal-api"))})
	tg := startTollgate(t, dir, "")
	edge := startEnvoy(t, tg.grpcAddr, "edge", false)
	internal := startEnvoy(t, tg.grpcAddr, "internal", true)

	waitService(t, "http://"+edgeAddr+"/", nil, "edge-api")
	waitService(t, "http://"+internalAddr+"/", nil, "internal-api")
	for _, c := range []struct {
		name      string
		dump      func() string
		has, hasn string
	}{
		{"edge", func() string { return configDump(t, edge) }, "edge-api", "internal-api"},
		{"internal", func() string { return configDump(t, internal) }, "internal-api", "edge-api"},
	} {
		dump := c.dump()
		if !strings.Contains(dump, `"`+c.has+`"`) || strings.Contains(dump, `"`+c.hasn+`"`) {
			t.Errorf("%s Envoy: config must name %q and not %q", c.name, c.has, c.hasn)
		}
	}
}
