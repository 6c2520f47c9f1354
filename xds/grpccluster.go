package xds

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// addGRPCCluster adds a cluster through which Envoy calls one of
// Tollgate's own gRPC services (ext_authz, rate limiting) at addr
// (host:port), speaking HTTP/2 as gRPC requires. An unspecified host
// (":18000", "0.0.0.0:18000") means this machine, since that is where a
// Tollgate listening on every interface can be reached.
func (r *Resources) addGRPCCluster(name, addr string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cluster %s: address %q is not host:port", name, addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return fmt.Errorf("cluster %s: port %q must be between 1 and 65535", name, portStr)
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	// Not a policy service, so nothing defaults it: it gets the values a
	// policy service gets by default.
	svc := &policy.Service{Name: name, LoadBalancing: policy.RoundRobin, ConnectTimeout: policy.Duration(policy.DefaultConnectTimeout),
		Endpoints: []*policy.Endpoint{{Address: addr, Host: host, Port: port, Weight: 1}}}
	if err := r.addService(svc); err != nil {
		return err
	}
	opts, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{},
		}},
	})
	if err != nil {
		return fmt.Errorf("cluster %s: %w", name, err)
	}
	c := r.Clusters[len(r.Clusters)-1]
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": opts}
	return nil
}
