package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// xffDetectionName is Envoy's X-Forwarded-For original IP detection
// extension.
const xffDetectionName = "envoy.http.original_ip_detection.xff"

// resolveClientAddress sets how a listener's connection manager finds the
// client's address (listeners[].client_address). Envoy makes the result
// its downstream remote address, which every consumer reads: the
// rate-limit remote_address descriptor, ring_hash's source_ip, the
// access log's %DOWNSTREAM_REMOTE_ADDRESS%, clientAddressValue, and, as
// x-real-ip, Tollgate's authorization logs.
//
//   - none, or proxy_protocol: the connection's peer (use_remote_address),
//     which the proxy_protocol listener filter has already replaced by
//     the address the load balancer sent;
//   - trusted_hops N: the N-th X-Forwarded-For address from the right, as
//     received (xff_num_trusted_hops); the peer when there are fewer;
//   - trusted_cidrs: Envoy's XFF extension. It runs only without
//     use_remote_address: from a trusted peer, the right-most address
//     outside the CIDRs; from any other peer, the peer.
//
// In every case routeClientAddress then replaces X-Forwarded-For with the
// resolved address alone, so what Envoy appends or not does not matter.
func resolveClientAddress(hcm *hcmv3.HttpConnectionManager, c *policy.ClientAddress) error {
	switch {
	case c == nil || c.ProxyProtocol:
		hcm.UseRemoteAddress = wrapperspb.Bool(true)
	case c.TrustedHops > 0:
		hcm.UseRemoteAddress = wrapperspb.Bool(true)
		hcm.XffNumTrustedHops = uint32(c.TrustedHops) //nolint:gosec // G115: validated 1 to 10
	default:
		cidrs := make([]*corev3.CidrRange, len(c.CIDRs))
		for i, p := range c.CIDRs {
			cidrs[i] = &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))} //nolint:gosec // G115: 0 to 128
		}
		config, err := anypb.New(&xffv3.XffConfig{XffTrustedCidrs: &xffv3.XffTrustedCidrs{Cidrs: cidrs}})
		if err != nil {
			return fmt.Errorf("encoding the trusted CIDRs: %w", err)
		}
		hcm.UseRemoteAddress = wrapperspb.Bool(false)
		hcm.OriginalIpDetectionExtensions = []*corev3.TypedExtensionConfig{{Name: xffDetectionName, TypedConfig: config}}
	}
	return nil
}

// clientAddressListenerFilters are the listener filters client_address
// needs: with proxy_protocol, Envoy reads the PROXY header (v1 or v2)
// before anything else on the connection, TLS included, and refuses a
// connection without one, so a client that reaches the listener directly
// cannot name an address.
func clientAddressListenerFilters(c *policy.ClientAddress) ([]*listenerv3.ListenerFilter, error) {
	if c == nil || !c.ProxyProtocol {
		return nil, nil
	}
	config, err := anypb.New(&proxyprotocolv3.ProxyProtocol{})
	if err != nil {
		return nil, fmt.Errorf("encoding the PROXY protocol filter: %w", err)
	}
	return []*listenerv3.ListenerFilter{{
		Name:       wellknown.ProxyProtocol,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: config},
	}}, nil
}
