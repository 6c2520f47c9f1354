package xds

import (
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// loadAssignment lists a service's endpoints, in policy order, with their
// weights. It is served over EDS for IP-only services and inlined in the
// cluster for DNS ones.
func loadAssignment(s *policy.Service) *endpointv3.ClusterLoadAssignment {
	lbEndpoints := make([]*endpointv3.LbEndpoint, 0, len(s.Endpoints))
	for _, e := range s.Endpoints {
		lbEndpoints = append(lbEndpoints, lbEndpoint(e))
	}
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: s.Name,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbEndpoints}},
	}
}

// lbEndpoint is one endpoint with its weight.
func lbEndpoint(e *policy.Endpoint) *endpointv3.LbEndpoint {
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(e.Host, e.Port),
		}},
		LoadBalancingWeight: wrapperspb.UInt32(uint32(e.Weight)),
	}
}
