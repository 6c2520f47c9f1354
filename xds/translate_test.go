package xds

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

func TestTranslateGroupsGetTheirOwnListenersAndClusters(t *testing.T) {
	p := twoGroupPolicy(t)
	tests := []struct {
		group               string
		listeners, clusters []string
	}{
		{"edge", []string{"edge-http"}, []string{noCollectorClusterName, "orders", AuthzCluster, RateLimitCluster}},
		{"internal", []string{"internal-http"}, []string{noCollectorClusterName, "ledger", AuthzCluster, RateLimitCluster}},
		{DefaultGroup, nil, nil},
	}
	for _, tt := range tests {
		res, err := Translate(p, tt.group, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.group, err)
		}
		if got := names(res.Listeners); !slices.Equal(got, tt.listeners) {
			t.Errorf("%s listeners = %v, want %v", tt.group, got, tt.listeners)
		}
		if got := names(res.Clusters); !slices.Equal(got, tt.clusters) {
			t.Errorf("%s clusters = %v, want %v", tt.group, got, tt.clusters)
		}
	}
}

func TestTranslateIsDeterministic(t *testing.T) {
	services, routes := "---\nservices:\n", "routes:\n"
	for i := range 20 {
		name := string(rune('a' + i))
		services += ipServiceYAML(name, 10000+i)
		routes += prefixRouteYAML(name, "/"+name, name, "")
	}
	p := twoGroupPolicy(t, services+routes)
	first, err := Snapshot(p, "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		again, err := Snapshot(p, "edge", Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, typ := range servedTypes {
			if first.GetVersion(typ) != again.GetVersion(typ) {
				t.Fatalf("%s version changed between two translations of one policy", typ)
			}
		}
	}
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *policy.Policy)
		want   string
	}{
		{"unknown service", func(p *policy.Policy) { p.Routes[0].To[0].Service = "nope" }, `unknown service "nope"`},
		{"no destination", func(p *policy.Policy) { p.Routes[0].To = nil }, "no destination"},
		{"split adds to zero", func(p *policy.Policy) {
			p.Routes[0].To = policy.Destinations{{Service: "orders"}, {Service: "ledger"}}
		}, "add up to 0"},
		{"negative weight", func(p *policy.Policy) {
			p.Routes[0].To = policy.Destinations{{Service: "orders", Weight: 1}, {Service: "ledger", Weight: -1}}
		}, "negative weight"},
		{"bad port", func(p *policy.Policy) { p.Listeners[0].Port = 70000 }, "out of range"},
		{"unknown load balancing", func(p *policy.Policy) { p.Services["orders"].LoadBalancing = "fastest" }, `unknown load balancing "fastest"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := twoGroupPolicy(t)
			tt.change(p)
			_, err := Translate(p, "edge", Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Translate(nil, "edge", Options{}); err == nil {
		t.Error("Translate(nil) succeeded")
	}
}

func TestClusterDiscovery(t *testing.T) {
	p := policytest.Load(t, `services:
  ip: { endpoints: [127.0.0.1:9001] }
  dns: { endpoints: [127.0.0.1:9002, { address: db.internal:5432, weight: 2 }] }
`)
	c, err := buildCluster(p.Services["ip"])
	if err != nil {
		t.Fatal(err)
	}
	if c.GetType() != clusterv3.Cluster_EDS || c.GetEdsClusterConfig() == nil || c.GetLoadAssignment() != nil {
		t.Errorf("IP service: want EDS without inline endpoints, got %v", c)
	}
	c, err = buildCluster(p.Services["dns"])
	if err != nil {
		t.Fatal(err)
	}
	if c.GetType() != clusterv3.Cluster_STRICT_DNS || len(c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()) != 2 {
		t.Errorf("DNS service: want STRICT_DNS with both endpoints inline, got %v", c)
	}
}

func TestLoadBalancingPolicies(t *testing.T) {
	for lb, want := range map[policy.LoadBalancing]clusterv3.Cluster_LbPolicy{
		policy.RoundRobin:   clusterv3.Cluster_ROUND_ROBIN,
		policy.LeastRequest: clusterv3.Cluster_LEAST_REQUEST,
		policy.Random:       clusterv3.Cluster_RANDOM,
		policy.RingHash:     clusterv3.Cluster_RING_HASH,
	} {
		got, err := lbPolicy(lb)
		if err != nil || got != want {
			t.Errorf("lbPolicy(%s) = %v, %v; want %v", lb, got, err, want)
		}
	}
}

func TestHashPolicies(t *testing.T) {
	p := policytest.Load(t, `services:
  profile: { endpoints: [127.0.0.1:9001], load_balancing: ring_hash, hash_on: { header: X-User } }
  sessions: { endpoints: [127.0.0.1:9002], load_balancing: ring_hash, hash_on: { client_ip: true } }
  orders: { endpoints: [127.0.0.1:9003] }
`)
	byHeader, byIP, plain := p.Services["profile"], p.Services["sessions"], p.Services["orders"]

	got := hashPolicies([]*policy.Service{plain, byHeader, byIP, byHeader})
	if len(got) != 2 {
		t.Fatalf("got %d hash policies, want 2 (header once, client ip once): %v", len(got), got)
	}
	if h := got[0].GetHeader().GetHeaderName(); h != "x-user" {
		t.Errorf("first hash policy header = %q, want x-user", h)
	}
	if !got[1].GetConnectionProperties().GetSourceIp() {
		t.Errorf("second hash policy = %v, want source ip", got[1])
	}
	if hp := hashPolicies([]*policy.Service{plain}); hp != nil {
		t.Errorf("round robin service got hash policies %v", hp)
	}
}

// RE2, which Envoy runs, and Go's regexp agree on this syntax, so the
// host expression can be checked here; e2e tests check it through Envoy.
func TestHostMatcher(t *testing.T) {
	tests := []struct {
		patterns []string
		host     string
		want     bool
	}{
		{[]string{"api.example.com"}, "api.example.com", true},
		{[]string{"api.example.com"}, "API.Example.com", true},
		{[]string{"api.example.com"}, "api.example.com:8443", true},
		{[]string{"api.example.com"}, "api.example.com:", true},
		{[]string{"api.example.com"}, "api.example.com:x", true},
		{[]string{"api.example.com"}, "api.example.com:80:80", true},
		{[]string{"api.example.com"}, "api.example.com.evil.org", false},
		{[]string{"api.example.com"}, "apixexample.com", false},
		{[]string{"api.example.com"}, "evil-api.example.com", false},
		{[]string{"*.example.com"}, "api.example.com", true},
		{[]string{"*.example.com"}, "a.b.example.com", true},
		{[]string{"*.example.com"}, "example.com", false},
		{[]string{"*.example.com"}, "api.example.org", false},
		{[]string{"api.example.com:8443"}, "api.example.com:8443", true},
		{[]string{"api.example.com:8443"}, "api.example.com", false},
		{[]string{"a.example.com", "b.example.com"}, "b.example.com", true},
	}
	for _, tt := range tests {
		m := hostMatcher(tt.patterns)
		re := regexp.MustCompile(m.GetStringMatch().GetSafeRegex().GetRegex())
		if got := re.MatchString(tt.host); got != tt.want {
			t.Errorf("hosts %v, request host %q: match = %v, want %v", tt.patterns, tt.host, got, tt.want)
		}
	}
	if hostMatcher([]string{"*"}) != nil || hostMatcher(nil) != nil {
		t.Error("a route for every host needs no host matcher")
	}
}

func TestIgnorePortOnlyWithoutPortsInDomains(t *testing.T) {
	p := twoGroupPolicy(t)
	res, err := Translate(p, "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Routes[0].GetIgnorePortInHostMatching() {
		t.Error("no domain has a port, yet ports take part in host matching")
	}
	p.Listeners[0].Hosts = []string{"api.example.com:8443"}
	if res, err = Translate(p, "edge", Options{}); err != nil {
		t.Fatal(err)
	}
	if res.Routes[0].GetIgnorePortInHostMatching() {
		t.Error("a domain has a port, yet ports are ignored in host matching")
	}
}

// RE2, which Envoy runs, and Go's regexp agree on this syntax, so the
// absent-query-parameter expression can be checked here.
func TestQueryParamRegex(t *testing.T) {
	re := regexp.MustCompile(policy.QueryParamPattern("trace"))
	for path, has := range map[string]bool{
		"/s":             false,
		"/s?trace":       true,
		"/s?trace=1":     true,
		"/s?a=1&trace=1": true,
		"/s?trace&a=1":   true,
		"/s?tracer=1":    false,
		"/s?a=trace":     false,
		"/s?xtrace=1":    false,
		"/trace?a=1":     false,
	} {
		if got := re.MatchString(path); got != has {
			t.Errorf("%s: matched = %v, want %v", path, got, has)
		}
	}
}

func TestMethodMatcher(t *testing.T) {
	if m := methodMatcher(nil); m != nil {
		t.Errorf("no methods gave a matcher %v", m)
	}
	if got := methodMatcher([]string{"GET"}).GetStringMatch().GetExact(); got != "GET" {
		t.Errorf("one method: exact = %q, want GET", got)
	}
	if got := methodMatcher([]string{"GET", "HEAD"}).GetStringMatch().GetSafeRegex().GetRegex(); got != "^(GET|HEAD)$" {
		t.Errorf("two methods: regex = %q", got)
	}
}

func TestWeightedSplit(t *testing.T) {
	p := twoGroupPolicy(t)
	p.Routes[0].To = policy.Destinations{{Service: "orders", Weight: 90}, {Service: "ledger", Weight: 10}}
	res, err := Translate(p, "edge", Options{})
	if err != nil {
		t.Fatal(err)
	}
	wc := res.Routes[0].GetVirtualHosts()[0].GetRoutes()[0].GetRoute().GetWeightedClusters()
	want := &routev3.WeightedCluster{}
	for _, d := range p.Routes[0].To {
		want.Clusters = append(want.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: d.Service, Weight: wrapperspb.UInt32(uint32(d.Weight))})
	}
	if !proto.Equal(wc, want) {
		t.Errorf("weighted clusters = %v, want %v", wc, want)
	}
	if got := names(res.Clusters); !slices.Equal(got, []string{noCollectorClusterName, "ledger", "orders", AuthzCluster, RateLimitCluster}) {
		t.Errorf("clusters = %v, want both services of the split", got)
	}
}

// names returns the names of resources, in order.
func names[T interface{ GetName() string }](items []T) []string {
	var out []string
	for _, item := range items {
		out = append(out, item.GetName())
	}
	return out
}
