package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	// The typed configs inside the resources resolve by the types the
	// translator registers.
	_ "github.com/tollgate/tollgate/xds"
)

// `tollgate translate` prints what a real Envoy receives: its listeners,
// route configurations, clusters and endpoints for the example policy
// equal the dynamic resources of Envoy's /config_dump, resource by
// resource.
func TestTranslateMatchesEnvoyConfigDump(t *testing.T) {
	dir := examplePolicyCopy(t)
	tg := startTollgate(t, dir, "")
	e := startEnvoy(t, tg.grpcAddr, "", false)

	out, err := exec.Command(tollgateBin, "translate", "--format", "json", "--grpc-addr", tg.grpcAddr, dir).Output()
	if err != nil {
		t.Fatalf("tollgate translate: %v", err)
	}
	want := translatedResources(t, out)
	if len(want["listener"]) == 0 || len(want["cluster"]) < 3 || len(want["endpoint"]) == 0 {
		t.Fatalf("translate printed too little: %v", want)
	}
	var got map[string]map[string]proto.Message
	eventually(t, 20*time.Second, func() error {
		got = dumpedResources(t, configDump(t, e))
		for typ, byName := range want {
			// Envoy dumps the endpoints of inline load assignments
			// (Tollgate's own clusters) as well; translate prints
			// those inside their clusters.
			if typ != "endpoint" && len(got[typ]) != len(byName) {
				return fmt.Errorf("%s: Envoy has %d, translate printed %d", typ, len(got[typ]), len(byName))
			}
			for name := range byName {
				if _, ok := got[typ][name]; !ok {
					return fmt.Errorf("%s %s: printed by translate, not (yet) in Envoy's config_dump", typ, name)
				}
			}
		}
		return nil
	})
	for typ, byName := range want {
		for name, m := range byName {
			if typ == "endpoint" {
				// Envoy dumps its own view of an assignment, defaults
				// filled in (health status, overprovisioning); the
				// addresses are what the policy decides.
				if a, b := endpointAddrs(m), endpointAddrs(got[typ][name]); a != b {
					t.Errorf("endpoint %s: translate %s, Envoy %s", name, a, b)
				}
				continue
			}
			if a, b := redactedJSON(t, m), redactedJSON(t, got[typ][name]); a != b {
				t.Errorf("%s %s differs:\ntranslate: %s\nEnvoy:     %s", typ, name, a, b)
			}
		}
	}
}

// redactedJSON renders a resource as JSON with the values Envoy's admin
// interface redacts (ext_authz context extensions, which are marked
// sensitive) redacted, so that what translate prints compares with what
// config_dump shows.
func redactedJSON(t *testing.T, m proto.Message) string {
	t.Helper()
	js, err := protojson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	redact(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func redact(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if ext, ok := e.(map[string]any); ok && k == "contextExtensions" {
				for name := range ext {
					ext[name] = "[redacted]"
				}
				continue
			}
			redact(e)
		}
	case []any:
		for _, e := range v {
			redact(e)
		}
	}
}

// endpointAddrs lists an assignment's endpoint addresses and weights.
func endpointAddrs(m proto.Message) string {
	var addrs []string
	for _, locality := range m.(*endpointv3.ClusterLoadAssignment).GetEndpoints() {
		for _, e := range locality.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			addrs = append(addrs, fmt.Sprintf("%s:%d/%d", sa.GetAddress(), sa.GetPortValue(), e.GetLoadBalancingWeight().GetValue()))
		}
	}
	return strings.Join(addrs, ",")
}

// examplePolicyCopy copies examples/gateway (its *.yaml files) with the
// gateway's port moved to a free one.
func examplePolicyCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, port, _ := strings.Cut(freeAddr(t), ":")
	files, _ := filepath.Glob("../examples/gateway/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, filepath.Base(f)), strings.ReplaceAll(string(data), "port: 8080", "port: "+port))
	}
	return dir
}

// translatedResources reads translate's JSON into protos by type and name.
func translatedResources(t *testing.T, out []byte) map[string]map[string]proto.Message {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	res := map[string]map[string]proto.Message{}
	for key, typ := range map[string]string{"listeners": "listener", "routes": "route", "clusters": "cluster", "endpoints": "endpoint"} {
		var items []json.RawMessage
		if err := json.Unmarshal(doc[key], &items); err != nil {
			t.Fatal(err)
		}
		res[typ] = map[string]proto.Message{}
		for _, item := range items {
			m := newResource(typ)
			if err := protojson.Unmarshal(item, m); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			res[typ][resourceName(m)] = m
		}
	}
	return res
}

// dumpedResources reads the dynamic resources of a /config_dump.
func dumpedResources(t *testing.T, dump string) map[string]map[string]proto.Message {
	t.Helper()
	var d struct {
		Configs []struct {
			Listeners []struct {
				Active *struct {
					Listener json.RawMessage `json:"listener"`
				} `json:"active_state"`
			} `json:"dynamic_listeners"`
			Routes []struct {
				Config json.RawMessage `json:"route_config"`
			} `json:"dynamic_route_configs"`
			Clusters []struct {
				Cluster json.RawMessage `json:"cluster"`
			} `json:"dynamic_active_clusters"`
			Endpoints []struct {
				Config json.RawMessage `json:"endpoint_config"`
			} `json:"dynamic_endpoint_configs"`
		} `json:"configs"`
	}
	if err := json.Unmarshal([]byte(dump), &d); err != nil {
		t.Fatal(err)
	}
	res := map[string]map[string]proto.Message{"listener": {}, "route": {}, "cluster": {}, "endpoint": {}}
	add := func(typ string, raw json.RawMessage) {
		// Each resource is dumped as an Any: {"@type": ..., fields}.
		var a anypb.Any
		m := newResource(typ)
		if err := protojson.Unmarshal(raw, &a); err != nil {
			t.Fatalf("config_dump %s: %v", typ, err)
		}
		if err := a.UnmarshalTo(m); err != nil {
			t.Fatalf("config_dump %s: %v", typ, err)
		}
		res[typ][resourceName(m)] = m
	}
	for _, c := range d.Configs {
		for _, l := range c.Listeners {
			if l.Active != nil {
				add("listener", l.Active.Listener)
			}
		}
		for _, r := range c.Routes {
			add("route", r.Config)
		}
		for _, cl := range c.Clusters {
			add("cluster", cl.Cluster)
		}
		for _, ep := range c.Endpoints {
			add("endpoint", ep.Config)
		}
	}
	return res
}

func newResource(typ string) proto.Message {
	switch typ {
	case "listener":
		return &listenerv3.Listener{}
	case "route":
		return &routev3.RouteConfiguration{}
	case "cluster":
		return &clusterv3.Cluster{}
	default:
		return &endpointv3.ClusterLoadAssignment{}
	}
}

func resourceName(m proto.Message) string {
	if e, ok := m.(*endpointv3.ClusterLoadAssignment); ok {
		return e.GetClusterName()
	}
	return m.(interface{ GetName() string }).GetName()
}
