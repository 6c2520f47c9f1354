package xds

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/policy"
)

// DefaultGRPCAddress is where Envoy reaches each of Tollgate's own gRPC
// services (ext_authz, rate limiting, access logs) whose address Options
// leave empty: `tollgate serve`'s default --grpc-addr, since by default one
// server carries them all (envoy.DefaultXDSAddress, the one spelling).
const DefaultGRPCAddress = envoy.DefaultXDSAddress

// grpcConnectTimeout bounds Envoy's connection attempts to a gRPC
// cluster: Tollgate's services and the tracing collector run beside
// Envoy or on its network, so a slower connection is a failure.
const grpcConnectTimeout = time.Second

// addTollgateClusters adds the clusters through which Envoy calls
// Tollgate's own gRPC services, to a group with listeners: ext_authz and
// rate limiting always, the access-log service when the policy streams
// its access log over gRPC.
//
// The ext_authz and rate-limit clusters are there whether or not a route
// uses them. Envoy 1.40 accepts a filter naming a cluster it does not
// have (checked with a real Envoy), but RDS and CDS are separate updates
// over ADS, in no guaranteed order: a route enabling the filter before
// the cluster arrived would have its calls fail, and its requests
// answered by the failure mode (with allow, admitted unauthenticated).
// Always present, the clusters make protecting or limiting a route an
// RDS-only change. A cluster nobody calls costs Envoy no connection.
func (r *Resources) addTollgateClusters(p *policy.Policy, opts Options) error {
	if len(r.Listeners) == 0 {
		return nil
	}
	for _, s := range tollgateServices {
		if s.cluster == accessLogClusterName && (p.AccessLog == nil || !p.AccessLog.GRPC) {
			continue
		}
		c, err := tollgateCluster(s.cluster, s.address(opts), opts.TLS)
		if err != nil {
			return fmt.Errorf("cluster %s: Options.%s: %w", s.cluster, s.option, err)
		}
		r.Clusters = append(r.Clusters, c)
	}
	return nil
}

// tollgateServices are Tollgate's own gRPC services that Envoy calls: the
// cluster of each, and the Options field its address comes from.
var tollgateServices = []struct {
	cluster, option string
	address         func(Options) string
}{
	{AuthzCluster, "AuthzAddress", func(o Options) string { return o.AuthzAddress }},
	{RateLimitCluster, "RateLimitAddress", func(o Options) string { return o.RateLimitAddress }},
	{accessLogClusterName, "AccessLogAddress", func(o Options) string { return o.AccessLogAddress }},
}

// tollgateCluster is the cluster through which Envoy calls one of
// Tollgate's own gRPC services at addr, as tollgateEndpoint resolves it,
// over mutual TLS when Tollgate serves it (tollgatetls.go).
func tollgateCluster(name, addr string, tls bool) (*clusterv3.Cluster, error) {
	host, port, err := tollgateEndpoint(addr)
	if err != nil {
		return nil, err
	}
	c, err := grpcCluster(name, host, port)
	if err != nil || !tls {
		return c, err
	}
	return c, useTollgateTLS(c, host)
}

// tollgateEndpoint is the one rule for where Envoy reaches a Tollgate
// service given the address it is served on (--grpc-addr, or the
// service's own --*-address flag):
//
//   - empty: DefaultGRPCAddress;
//   - no host or a wildcard host (":18000", "0.0.0.0:18000", "[::]:18000"):
//     Tollgate listens on every interface of Envoy's machine, which Envoy
//     reaches on loopback, 127.0.0.1 (::1 for "[::]"). Envoy cannot dial
//     an empty or wildcard address;
//   - anything else (an IP address or a host name) as written.
//
// An Envoy on another machine therefore needs an explicit address.
func tollgateEndpoint(addr string) (host string, port int, err error) {
	if addr == "" {
		addr = DefaultGRPCAddress
	}
	host, port, err = splitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		return "127.0.0.1", port, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		if ip.Is4() {
			return "127.0.0.1", port, nil
		}
		return "::1", port, nil
	}
	return host, port, nil
}

// splitHostPort splits host:port and checks the port.
func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q is not host:port", addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("address %q: port must be between 1 and 65535", addr)
	}
	return host, port, nil
}

// grpcCluster is a cluster speaking HTTP/2 (as gRPC requires) to one
// server, its endpoint inline: STATIC for an IP address, STRICT_DNS for a
// host name (resolved by Envoy, preferring IPv4, so that a docker-compose
// service name works). An empty host gives a cluster without endpoints.
func grpcCluster(name, host string, port int) (*clusterv3.Cluster, error) {
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
		ConnectTimeout:                durationpb.New(grpcConnectTimeout),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		TypedExtensionProtocolOptions: map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2},
		LoadAssignment:                &endpointv3.ClusterLoadAssignment{ClusterName: name},
	}
	if host == "" {
		return c, nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
		c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
	}
	c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
	}}}}
	return c, nil
}
