package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	proxyprotocolv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/proxy_protocol/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	xffv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/original_ip_detection/xff/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
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
//   - none, proxy_protocol or trusted_cidrs: the connection's peer
//     (use_remote_address), which the proxy_protocol listener filter has
//     already replaced by the address the load balancer sent; with
//     trusted_cidrs, connections from the proxies get their own filter
//     chain (trustedProxyChain);
//   - trusted_hops N: the N-th X-Forwarded-For address from the right, as
//     received (xff_num_trusted_hops); the peer when there are fewer.
//
// In every case routeClientAddress then replaces X-Forwarded-For with the
// resolved address alone, so what Envoy appends or not does not matter.
func resolveClientAddress(hcm *hcmv3.HttpConnectionManager, c *policy.ClientAddress) {
	hcm.UseRemoteAddress = wrapperspb.Bool(true)
	if c != nil && c.TrustedHops > 0 {
		hcm.XffNumTrustedHops = uint32(c.TrustedHops) //nolint:gosec // G115: validated 1 to 10
	}
}

// applyClientAddress adds to a listener that hcmListener built from hcm
// what its client_address needs besides the connection manager's
// settings: the PROXY protocol listener filter, or the filter chain for
// connections from trusted proxies.
func applyClientAddress(lis *listenerv3.Listener, hcm *hcmv3.HttpConnectionManager, c *policy.ClientAddress) error {
	switch {
	case c == nil:
		return nil
	case c.ProxyProtocol:
		return proxyProtocol(lis)
	case len(c.CIDRs) > 0:
		return trustedProxyChain(lis, hcm, c)
	}
	return nil
}

// proxyProtocol makes Envoy read the PROXY header (v1 or v2) before
// anything else on a connection, TLS included, and take its source as
// the peer. A connection without one is refused, so a client reaching the
// listener directly cannot name an address.
func proxyProtocol(lis *listenerv3.Listener) error {
	config, err := anypb.New(&proxyprotocolv3.ProxyProtocol{})
	if err != nil {
		return fmt.Errorf("encoding the PROXY protocol filter: %w", err)
	}
	lis.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       wellknown.ProxyProtocol,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: config},
	}}
	return nil
}

// trustedProxyChainName names the filter chain of connections from a
// listener's trusted_cidrs.
const trustedProxyChainName = "trusted-proxies"

// trustedProxyChain puts before the listener's only filter chain a copy
// for connections whose peer is in trusted_cidrs, whose connection
// manager resolves the client with Envoy's XFF extension: the right-most
// X-Forwarded-For address outside the CIDRs. The extension runs only
// without use_remote_address, which also makes Envoy keep the
// x-forwarded-proto and x-request-id a request arrives with; the chain
// limits that to the proxies. Any other peer takes the listener's own
// chain, where it is the client, as on a listener without client_address.
func trustedProxyChain(lis *listenerv3.Listener, hcm *hcmv3.HttpConnectionManager, c *policy.ClientAddress) error {
	cidrs := make([]*corev3.CidrRange, len(c.CIDRs))
	for i, p := range c.CIDRs {
		cidrs[i] = &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))} //nolint:gosec // G115: 0 to 128
	}
	xff, err := anypb.New(&xffv3.XffConfig{XffTrustedCidrs: &xffv3.XffTrustedCidrs{Cidrs: cidrs}})
	if err != nil {
		return fmt.Errorf("encoding the trusted CIDRs: %w", err)
	}
	trusted := proto.Clone(hcm).(*hcmv3.HttpConnectionManager)
	trusted.UseRemoteAddress = wrapperspb.Bool(false)
	trusted.OriginalIpDetectionExtensions = []*corev3.TypedExtensionConfig{{Name: xffDetectionName, TypedConfig: xff}}
	config, err := deterministicAny(trusted)
	if err != nil {
		return fmt.Errorf("encoding the trusted proxies' HTTP connection manager: %w", err)
	}
	chain := proto.Clone(lis.FilterChains[0]).(*listenerv3.FilterChain)
	chain.Name = trustedProxyChainName
	chain.FilterChainMatch = &listenerv3.FilterChainMatch{SourcePrefixRanges: cidrs}
	chain.Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: config}
	lis.FilterChains = append([]*listenerv3.FilterChain{chain}, lis.FilterChains...)
	return nil
}
