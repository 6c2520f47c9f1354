package xds

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// catchAllName names the virtual host holding the routes that name no
// host. Host names cannot contain '_', so it never collides with the
// virtual host of a host.
const catchAllName = "catch_all"

// routeConfiguration translates the routes attached to a listener, in
// policy order, into the route configuration its connection manager
// fetches over RDS. A request no route matches gets Envoy's 404.
func routeConfiguration(p *policy.Policy, l *policy.Listener, routes []*policy.Route) (*routev3.RouteConfiguration, error) {
	built := make([]*routev3.Route, len(routes))
	for i, r := range routes {
		route, err := buildRoute(p, r)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r.Name, err)
		}
		built[i] = route
	}
	vhosts := virtualHosts(l, routes, built)
	return &routev3.RouteConfiguration{
		Name:         l.Name,
		VirtualHosts: vhosts,
		// Clients send "Host: api.example.com:8443"; domains written
		// without a port should still match. When a policy writes a port
		// in a host, ports must take part in matching.
		IgnorePortInHostMatching: !anyDomainHasPort(vhosts),
	}, nil
}

// virtualHosts keeps "first match wins" across hosts. Envoy first picks
// the virtual host with the most specific domain and only then tries its
// routes in order, so every host that some route names (or that a route's
// wildcard covers) gets a virtual host of its own holding, in policy order,
// every route that applies to it: those whose hosts cover it and those that
// name no host. The listener's other hosts share one catch-all virtual host
// with only the routes that name no host.
func virtualHosts(l *policy.Listener, routes []*policy.Route, built []*routev3.Route) []*routev3.VirtualHost {
	named := routeHosts(routes)
	var vhosts []*routev3.VirtualHost
	var catchAll []string
	for _, host := range distinctHosts(listenerHosts(l)) {
		switch {
		case slices.Contains(named, host):
		case coveredByAny(routes, host):
			named = append(named, host)
		default:
			catchAll = append(catchAll, host)
		}
	}
	slices.Sort(named)
	for _, host := range named {
		applies := func(r *policy.Route) bool { return len(r.Match.Hosts) == 0 || coversHost(r.Match.Hosts, host) }
		vhosts = append(vhosts, &routev3.VirtualHost{Name: host, Domains: []string{host}, Routes: selectRoutes(routes, built, applies)})
	}
	hostless := selectRoutes(routes, built, func(r *policy.Route) bool { return len(r.Match.Hosts) == 0 })
	if len(catchAll) > 0 && len(hostless) > 0 {
		vhosts = append(vhosts, &routev3.VirtualHost{Name: catchAllName, Domains: catchAll, Routes: hostless})
	}
	return vhosts
}

// listenerHosts are the hosts a listener answers for. Load defaults them
// to "*"; a hand-built policy that leaves them empty means the same.
func listenerHosts(l *policy.Listener) []string {
	if len(l.Hosts) == 0 {
		return []string{"*"}
	}
	return l.Hosts
}

// routeHosts returns every host named in a route's match, lower-cased,
// distinct and sorted.
func routeHosts(routes []*policy.Route) []string {
	var hosts []string
	for _, r := range routes {
		hosts = append(hosts, r.Match.Hosts...)
	}
	hosts = distinctHosts(hosts)
	slices.Sort(hosts)
	return hosts
}

// distinctHosts lower-cases host names (Envoy matches domains without
// regard to case and rejects a domain listed twice) and drops repeats,
// keeping the first occurrence's place.
func distinctHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(h)
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// coveredByAny reports whether some route names a host pattern covering
// host.
func coveredByAny(routes []*policy.Route, host string) bool {
	return slices.ContainsFunc(routes, func(r *policy.Route) bool { return coversHost(r.Match.Hosts, host) })
}

// coversHost reports whether one of the patterns matches every request
// that host matches, using Envoy's domain rules: "*" matches everything and
// "*.example.com" matches any name ending in ".example.com". Ports compare
// as part of the name.
func coversHost(patterns []string, host string) bool {
	for _, p := range patterns {
		p = strings.ToLower(p)
		switch {
		case p == host, p == "*":
			return true
		case strings.HasPrefix(p, "*.") && len(host) > len(p)-1 && strings.HasSuffix(host, p[1:]):
			return true
		}
	}
	return false
}

// selectRoutes returns the built routes whose policy route satisfies keep,
// in policy order.
func selectRoutes(routes []*policy.Route, built []*routev3.Route, keep func(*policy.Route) bool) []*routev3.Route {
	var out []*routev3.Route
	for i, r := range routes {
		if keep(r) {
			out = append(out, built[i])
		}
	}
	return out
}

// anyDomainHasPort reports whether a domain carries a ":port".
func anyDomainHasPort(vhosts []*routev3.VirtualHost) bool {
	for _, vh := range vhosts {
		for _, d := range vh.GetDomains() {
			if strings.Contains(d, ":") {
				return true
			}
		}
	}
	return false
}

// buildRoute translates one policy route. The Envoy route carries the
// policy route's name so that access logs and stats can name it.
func buildRoute(p *policy.Policy, r *policy.Route) (*routev3.Route, error) {
	action, err := routeAction(r, p.Services)
	if err != nil {
		return nil, err
	}
	perFilter, err := perFilterConfig(p, r)
	if err != nil {
		return nil, err
	}
	return &routev3.Route{
		Name:                 r.Name,
		StatPrefix:           r.Name, // per-route stats: vhost.<host>.route.<name>.*
		Match:                routeMatch(&r.Match),
		Action:               &routev3.Route_Route{Route: action},
		TypedPerFilterConfig: perFilter,
	}, nil
}

// routeAction forwards to one cluster, or splits traffic between clusters
// by weight, hashing on what the ring_hash services among them ask for.
func routeAction(r *policy.Route, services map[string]*policy.Service) (*routev3.RouteAction, error) {
	dests, err := destinationServices(r, services)
	if err != nil {
		return nil, err
	}
	action := &routev3.RouteAction{HashPolicy: hashPolicies(dests)}
	if len(r.To) == 1 {
		action.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: r.To[0].Service}
		return action, nil
	}
	weighted, err := weightedClusters(r.To)
	if err != nil {
		return nil, err
	}
	action.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: weighted}
	return action, nil
}

// destinationServices looks up the services a route sends traffic to.
func destinationServices(r *policy.Route, services map[string]*policy.Service) ([]*policy.Service, error) {
	if len(r.To) == 0 {
		return nil, fmt.Errorf("no destination")
	}
	out := make([]*policy.Service, 0, len(r.To))
	for _, d := range r.To {
		s, ok := services[d.Service]
		if !ok || s == nil {
			return nil, fmt.Errorf("unknown service %q", d.Service)
		}
		out = append(out, s)
	}
	return out, nil
}

// weightedClusters is a canary or blue/green split. Envoy sends each
// cluster its weight's share of the total, so weights need not add to 100.
func weightedClusters(to policy.Destinations) (*routev3.WeightedCluster, error) {
	wc := &routev3.WeightedCluster{}
	total := 0
	for _, d := range to {
		if d.Weight < 0 {
			return nil, fmt.Errorf("service %q has a negative weight %d", d.Service, d.Weight)
		}
		total += d.Weight
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name:   d.Service,
			Weight: wrapperspb.UInt32(uint32(d.Weight)),
		})
	}
	if total == 0 {
		return nil, fmt.Errorf("the weights of the split add up to 0")
	}
	return wc, nil
}

// hashPolicies tells Envoy what to hash for the ring_hash services of a
// route, so that one user or client keeps reaching the same endpoint. A
// split over several such services gets each distinct policy once.
func hashPolicies(services []*policy.Service) []*routev3.RouteAction_HashPolicy {
	var out []*routev3.RouteAction_HashPolicy
	seen := map[string]bool{}
	for _, s := range services {
		if s.LoadBalancing != policy.RingHash || s.HashOn == nil {
			continue
		}
		key, hp := hashPolicy(s.HashOn)
		if hp != nil && !seen[key] {
			seen[key] = true
			out = append(out, hp)
		}
	}
	return out
}

// hashPolicy translates one hash_on, with a key identifying it.
func hashPolicy(h *policy.HashOn) (string, *routev3.RouteAction_HashPolicy) {
	switch {
	case h.Header != "":
		name := strings.ToLower(h.Header)
		return "header:" + name, &routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: name}},
		}
	case h.ClientIP:
		return "client_ip", &routev3.RouteAction_HashPolicy{
			PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
				ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
			},
		}
	}
	return "", nil
}
