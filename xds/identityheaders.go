package xds

import (
	"fmt"

	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// identityHeaderFilter removes, first in every chain and on every route
// (public ones too), each header through which the gateway tells services
// who called or how the request reached it: every x-tollgate-* and
// x-envoy-* header, the names in Policy.IdentityHeaders, x-real-ip, and
// policy.ClientHeaders less those the listener keeps. A client can
// therefore never forge an identity or a hop a service would trust; only
// filters and route configuration running after this one set them
// (routeClientAddress).
//
// The listener's configuration depends on the listener's
// keep_client_headers only; the claim headers of the auth section
// (Policy.IdentityHeaders) are removed by the virtual host's per-filter
// configuration (identityHeaderVirtualHost), which Envoy applies on every
// route after the listener's, so that neither a route edit nor a JWT
// provider's claims_to_headers changes the listener.
type identityHeaderFilter struct{}

func (identityHeaderFilter) name() string { return "tollgate.identity_headers" }

func (identityHeaderFilter) listenerConfig(_ *policy.Policy, l *policy.Listener) (proto.Message, error) {
	var remove []*mutationv3.HeaderMutation
	for _, prefix := range removedHeaderPrefixes {
		remove = append(remove, &mutationv3.HeaderMutation{
			Action: &mutationv3.HeaderMutation_RemoveOnMatch_{RemoveOnMatch: &mutationv3.HeaderMutation_RemoveOnMatch{
				KeyMatcher: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: prefix},
					IgnoreCase:   true,
				},
			}},
		})
	}
	names := append([]string{realIPHeader}, l.RemovedClientHeaders()...)
	mutations := append(remove, removeHeaders(names)...)
	// x-real-ip is set here too, not only on the route (routeClientAddress),
	// because ext_authz runs before the router and Tollgate's authorization
	// logs read the client's address from it: Envoy gives ext_authz the
	// connection's peer, not the address resolved from X-Forwarded-For.
	mutations = append(mutations, &mutationv3.HeaderMutation{Action: &mutationv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: realIPHeader, Value: clientAddressValue},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}}})
	return &headermutationv3.HeaderMutation{
		Mutations: &headermutationv3.Mutations{RequestMutations: mutations},
	}, nil
}

// identityHeaderVirtualHost is the virtual host's typed_per_filter_config
// removing the claim headers of the policy, or nil when it has none.
func identityHeaderVirtualHost(p *policy.Policy) (map[string]*anypb.Any, error) {
	headers := p.IdentityHeaders()
	if len(headers) == 0 {
		return nil, nil
	}
	a, err := anypb.New(&headermutationv3.HeaderMutationPerRoute{
		Mutations: &headermutationv3.Mutations{RequestMutations: removeHeaders(headers)},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the claim headers' removal: %w", err)
	}
	return map[string]*anypb.Any{identityHeaderFilter{}.name(): a}, nil
}

func removeHeaders(names []string) []*mutationv3.HeaderMutation {
	out := make([]*mutationv3.HeaderMutation, len(names))
	for i, h := range names {
		out[i] = &mutationv3.HeaderMutation{Action: &mutationv3.HeaderMutation_Remove{Remove: h}}
	}
	return out
}

// optIn is false: identity headers are removed on every route.
func (identityHeaderFilter) optIn() bool { return false }

func (identityHeaderFilter) routeConfig(*policy.Policy, *policy.Route) (proto.Message, error) {
	return nil, nil
}

// removedHeaderPrefixes start the names of headers no client may send:
//   - x-tollgate-*: the gateway's identity headers;
//   - x-envoy-*: Envoy's own. Envoy ignores the ones it acts on when the
//     client is external, but passes the others (x-envoy-peer-metadata
//     and -id, which meshes read as the calling workload's identity);
//     routeClientAddress sets x-envoy-external-address again.
//
// policy.ClientHeaders are removed by name, less those a listener keeps.
var removedHeaderPrefixes = []string{policy.IdentityHeaderPrefix, "x-envoy-"}

// realIPHeader carries the client's address, as Envoy saw the connection's
// peer, to services: many frameworks and logs read it. Tollgate sets it on
// every request (routeClientAddress) after removing the client's own.
const realIPHeader = "x-real-ip"

// clientAddressValue is the address services are told the client has:
// Envoy's downstream remote address, the connection's peer unless the
// listener's client_address trusts proxies in front of it, in which case
// it is the client they vouch for (resolveClientAddress).
const clientAddressValue = "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"

// routeClientAddress sets x-real-ip, x-forwarded-for and
// x-envoy-external-address to the client's address alone. Envoy would
// append the peer to the X-Forwarded-For a client sent, and services
// commonly read its first entry: the client's own claim.
func routeClientAddress() []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, name := range []string{realIPHeader, "x-forwarded-for", "x-envoy-external-address"} {
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: name, Value: clientAddressValue},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return out
}
