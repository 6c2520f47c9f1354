package xds

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/tollgate/tollgate/policy"
)

// observe sets what a listener's connection manager records: the access
// log (accesslog.go) and trace context (tracing.go).
func observe(hcm *hcmv3.HttpConnectionManager, p *policy.Policy) error {
	logs, err := accessLogs(p.AccessLog)
	if err != nil {
		return err
	}
	t, err := tracing(p.Tracing)
	if err != nil {
		return err
	}
	hcm.AccessLog, hcm.Tracing = logs, t
	return nil
}

// addObservabilityClusters adds the cluster the tracer of a group's
// listeners sends to (the access-log cluster is one of Tollgate's own, see
// addTollgateClusters); a group without listeners needs none, and neither
// does a hand-built policy without a tracing block.
func (r *Resources) addObservabilityClusters(p *policy.Policy) error {
	if len(r.Listeners) == 0 {
		return nil
	}
	if p.Tracing == nil {
		return nil
	}
	if p.Tracing.Collector != "" {
		c, err := observabilityCluster(collectorClusterName, p.Tracing.Collector)
		if err != nil {
			return fmt.Errorf("tracing collector cluster: %w", err)
		}
		r.Clusters = append(r.Clusters, c)
		return nil
	}
	c, err := observabilityCluster(noCollectorClusterName, "")
	if err != nil {
		return err
	}
	r.Clusters = append(r.Clusters, c)
	return nil
}

// observabilityCluster is a gRPC cluster (grpcCluster) to the collector
// at addr, or with no endpoint at all when addr is empty.
func observabilityCluster(name, addr string) (*clusterv3.Cluster, error) {
	if addr == "" {
		return grpcCluster(name, "", 0)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return grpcCluster(name, host, port)
}
