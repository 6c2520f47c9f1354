package xds

import (
	"fmt"

	"github.com/tollgate/tollgate/policy"
)

// ipService is a service with loopback endpoints on the given ports, as
// Load would leave it.
func ipService(name string, ports ...int) *policy.Service {
	s := &policy.Service{Name: name, LoadBalancing: policy.RoundRobin, ConnectTimeout: policy.Duration(policy.DefaultConnectTimeout)}
	for _, port := range ports {
		s.Endpoints = append(s.Endpoints, &policy.Endpoint{
			Address: fmt.Sprintf("127.0.0.1:%d", port), Host: "127.0.0.1", Port: port, Weight: 1,
		})
	}
	return s
}

// prefixRoute sends a path prefix to one service.
func prefixRoute(name, prefix, service string) *policy.Route {
	return &policy.Route{
		Name:  name,
		Match: policy.Match{PathPrefix: prefix},
		To:    policy.Destinations{{Service: service, Weight: 1}},
	}
}

// twoGroupPolicy has listener "edge-http" for group "edge" routing to
// orders, and "internal-http" for group "internal" routing to ledger.
func twoGroupPolicy() *policy.Policy {
	edge := prefixRoute("orders", "/orders", "orders")
	edge.Listeners = []string{"edge-http"}
	internal := prefixRoute("ledger", "/ledger", "ledger")
	internal.Listeners = []string{"internal-http"}
	return &policy.Policy{
		Version: "v1",
		Listeners: []*policy.Listener{
			{Name: "edge-http", Address: "127.0.0.1", Port: 8080, Hosts: []string{"*"}, Groups: []string{"edge"}},
			{Name: "internal-http", Address: "127.0.0.1", Port: 9090, Hosts: []string{"*"}, Groups: []string{"internal"}},
		},
		Services: map[string]*policy.Service{
			"orders": ipService("orders", 9001),
			"ledger": ipService("ledger", 9002),
		},
		Routes: []*policy.Route{edge, internal},
	}
}
