package xds

import (
	"fmt"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// routeConfiguration translates the routes attached to a listener, in
// policy order, into the route configuration its connection manager
// fetches over RDS: one virtual host answering for the listener's hosts,
// holding every route once. A request no route matches gets Envoy's 404.
func routeConfiguration(p *policy.Policy, l *policy.Listener, routes []*policy.Route) (*routev3.RouteConfiguration, error) {
	built := make([]*routev3.Route, 0, len(routes))
	for _, r := range routes {
		route, err := buildRoute(p, r)
		if err == nil {
			err = applyCORS(route, l, r)
		}
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r.Name, err)
		}
		refusals, err := refusalRoutes(p, l, r, route) // requestlimits.go
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", r.Name, err)
		}
		built = append(append(built, refusals...), route)
	}
	vhostFilters, err := identityHeaderVirtualHost(p)
	if err == nil {
		vhostFilters, err = compressionVirtualHost(l, vhostFilters)
	}
	if err == nil {
		vhostFilters, err = clientIPVirtualHost(l, vhostFilters)
	}
	if err == nil {
		vhostFilters, err = bodyLimitVirtualHost(l, vhostFilters)
	}
	if err != nil {
		return nil, err
	}
	domains := listenerHosts(l)
	vhost := &routev3.VirtualHost{Name: l.Name, Domains: domains, Routes: built, TypedPerFilterConfig: vhostFilters}
	buildHeaderChanges(l.Headers).applyToVirtualHost(vhost)
	return &routev3.RouteConfiguration{
		Name:         l.Name,
		VirtualHosts: []*routev3.VirtualHost{vhost},
		// Clients send "Host: api.example.com:8443"; domains written
		// without a port should still match. When a policy writes a port
		// in a host, ports must take part in matching.
		IgnorePortInHostMatching: !slices.ContainsFunc(domains, func(d string) bool { return strings.Contains(d, ":") }),
		RequestHeadersToAdd:      append(clientCertHeaders(l), routeClientAddress()...),
		RequestHeadersToRemove:   credentialHeaders(p),
		// The listener's and the route's header changes apply after
		// these (xds/headers.go).
		MostSpecificHeaderMutationsWins: true,
	}, nil
}

// listenerHosts are the hosts a listener answers for, lower-cased and
// distinct (Envoy rejects a domain listed twice).
func listenerHosts(l *policy.Listener) []string {
	out := make([]string, 0, len(l.Hosts))
	for _, h := range l.Hosts {
		h = strings.ToLower(h)
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// buildRoute translates one policy route. The Envoy route carries the
// policy route's name so that access logs and stats can name it.
func buildRoute(p *policy.Policy, r *policy.Route) (*routev3.Route, error) {
	perFilter, err := perFilterConfig(p, r)
	if err != nil {
		return nil, err
	}
	route := &routev3.Route{
		Name:                   r.Name,
		StatPrefix:             r.Name, // per-route stats: vhost.<host>.route.<name>.*
		Match:                  routeMatch(&r.Match),
		TypedPerFilterConfig:   perFilter,
		RequestHeadersToRemove: routeCredentialHeaders(p, r),
	}
	buildHeaderChanges(r.Headers).applyToRoute(route) // headers.go
	return route, setAction(route, p, r)              // routeactions.go
}

// forwardAction sends the route's requests to its services.
func forwardAction(p *policy.Policy, r *policy.Route) (*routev3.RouteAction, error) {
	action, err := routeAction(r, p.Services)
	if err == nil {
		err = routeTimeoutsAndRetries(action, p, r)
	}
	if err == nil {
		action.RequestMirrorPolicies = requestMirrorPolicies(r)
	}
	return action, err
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
