package xds

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// buildListener translates a policy listener into an Envoy listener named
// after it, whose only filter is an HTTP connection manager fetching the
// route configuration of the same name over ADS.
func buildListener(p *policy.Policy, l *policy.Listener) (*listenerv3.Listener, error) {
	if l.Port < 1 || l.Port > 65535 {
		return nil, fmt.Errorf("port %d is out of range", l.Port)
	}
	hcm, err := httpConnectionManager(p, l)
	if err != nil {
		return nil, err
	}
	tls, err := listenerTransportSocket(l)
	if err != nil {
		return nil, err
	}
	lis, err := hcmListener(l.Name, l.Address, l.Port, hcm, tls)
	if err != nil {
		return nil, err
	}
	return lis, applyClientAddress(lis, hcm, l.ClientAddress)
}

// hcmListener is a listener whose one filter chain runs an HTTP connection
// manager, over TLS when tls is set. Every such listener faces clients, so
// every one gets the edge settings of hardenEdge.
func hcmListener(name, address string, port int, hcm *hcmv3.HttpConnectionManager, tls *corev3.TransportSocket) (*listenerv3.Listener, error) {
	hardenEdge(hcm)
	if len(hcm.HttpFilters) == 0 {
		router, err := typedHTTPFilter(wellknown.Router, &routerv3.Router{})
		if err != nil {
			return nil, err
		}
		hcm.HttpFilters = []*hcmv3.HttpFilter{router}
	}
	config, err := deterministicAny(hcm)
	if err != nil {
		return nil, fmt.Errorf("encoding the HTTP connection manager: %w", err)
	}
	return &listenerv3.Listener{
		Name:                          name,
		Address:                       socketAddress(address, port),
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(edgeConnectionBufferLimit),
		FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: config},
			}},
			TransportSocket: tls,
		}},
	}, nil
}

// httpConnectionManager configures HTTP for a listener at the edge: the
// client is the connection's peer unless the listener trusts proxies in
// front of it (resolveClientAddress), every request gets
// an x-request-id, and paths are normalized before routing so that
// "/a/../orders" or "//orders" cannot slip past a route's matcher
// (hcmListener adds the rest of the edge settings, hardenEdge).
func httpConnectionManager(p *policy.Policy, l *policy.Listener) (*hcmv3.HttpConnectionManager, error) {
	filters, err := httpFilters(p, l)
	if err != nil {
		return nil, err
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: l.Name,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: l.Name,
			ConfigSource:    adsSource(),
		}},
		HttpFilters:       filters,
		GenerateRequestId: wrapperspb.Bool(true),
		NormalizePath:     wrapperspb.Bool(true),
		MergeSlashes:      true,
		UpgradeConfigs:    listenerUpgrades(), // routeactions.go
	}
	resolveClientAddress(hcm, l.ClientAddress)
	maxRequestHeaders(hcm, l)
	if hcm.LocalReplyConfig, err = localReplies(); err != nil {
		return nil, err
	}
	forwardClientCert(hcm, l)
	if err := observe(hcm, p); err != nil {
		return nil, err
	}
	return hcm, nil
}

// socketAddress is a TCP address for a listener or an endpoint. The port is
// range-checked by the caller (or by policy validation).
func socketAddress(host string, port int) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(port)},
	}}}
}
