package xds

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/policy"
)

// buildCluster translates a service into a cluster named after it. Services
// whose endpoints are all IP addresses get their endpoints over EDS, so an
// endpoint change does not touch the cluster; a service with a DNS name
// among its endpoints is a STRICT_DNS cluster that Envoy resolves itself,
// with its endpoints inline.
func buildCluster(s *policy.Service) (*clusterv3.Cluster, error) {
	lb, err := lbPolicy(s.LoadBalancing)
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:           s.Name,
		ConnectTimeout: durationpb.New(s.ConnectTimeout.D()),
		LbPolicy:       lb,
	}
	if s.UsesDNS() {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		// Most services listen on IPv4; AUTO would try AAAA records first.
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		c.LoadAssignment = loadAssignment(s)
		return c, nil
	}
	c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
	c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
	return c, nil
}

// lbPolicy translates a load-balancing name.
func lbPolicy(lb policy.LoadBalancing) (clusterv3.Cluster_LbPolicy, error) {
	switch lb {
	case policy.RoundRobin:
		return clusterv3.Cluster_ROUND_ROBIN, nil
	case policy.LeastRequest:
		return clusterv3.Cluster_LEAST_REQUEST, nil
	case policy.Random:
		return clusterv3.Cluster_RANDOM, nil
	case policy.RingHash:
		return clusterv3.Cluster_RING_HASH, nil
	}
	return 0, fmt.Errorf("unknown load balancing %q", lb)
}
