package xds

import (
	"fmt"

	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/anypb"
)

// httpFilters is the HTTP filter chain of every listener, in the order
// Envoy runs it. Filters that act on a request before it is forwarded
// (ext_authz, rate limiting) go before the router, which must be last.
func httpFilters() ([]*hcmv3.HttpFilter, error) {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, fmt.Errorf("encoding the router filter: %w", err)
	}
	return []*hcmv3.HttpFilter{{
		Name:       wellknown.Router,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
	}}, nil
}
