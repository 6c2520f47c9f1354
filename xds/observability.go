package xds

import (
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

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

// addObservabilityClusters adds the clusters the access log and the tracer
// of a group's listeners send to; a group without listeners needs none.
func (r *Resources) addObservabilityClusters(p *policy.Policy, opts Options) error {
	if len(r.Listeners) == 0 {
		return nil
	}
	if p.AccessLog.GRPC {
		if opts.AccessLogAddress == "" {
			return fmt.Errorf("access_log: grpc: true needs the address of Tollgate's access-log service (Options.AccessLogAddress)")
		}
		c, err := observabilityCluster(accessLogClusterName, opts.AccessLogAddress)
		if err != nil {
			return fmt.Errorf("access-log cluster: %w", err)
		}
		r.Clusters = append(r.Clusters, c)
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

// observabilityCluster is an HTTP/2 (gRPC) cluster to one address, or
// with no endpoint at all when addr is empty. A host name is resolved by
// Envoy (STRICT_DNS), so a collector can be a docker-compose service.
func observabilityCluster(name, addr string) (*clusterv3.Cluster, error) {
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding HTTP/2 options: %w", err)
	}
	c := &clusterv3.Cluster{
		Name:                          name,
		ConnectTimeout:                durationpb.New(time.Second),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment:                &endpointv3.ClusterLoadAssignment{ClusterName: name},
	}
	if addr == "" {
		return c, nil
	}
	host, portText, err := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%q is not host:port", addr)
	}
	if net.ParseIP(host) == nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
	}}}}
	return c, nil
}
