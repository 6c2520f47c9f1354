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
// who called: every x-tollgate-* header and the names in
// Policy.IdentityHeaders. A client can therefore never forge an identity
// a service would trust; only filters running after this one set them.
//
// The listener's configuration holds the fixed names; the claim headers
// of the auth section (Policy.IdentityHeaders) are removed by the virtual
// host's per-filter configuration (identityHeaderVirtualHost), which
// Envoy applies on every route after the listener's, so that adding a JWT
// provider's claims_to_headers changes routes only, not the listener.
type identityHeaderFilter struct{}

func (identityHeaderFilter) name() string { return "tollgate.identity_headers" }

func (identityHeaderFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	remove := []*mutationv3.HeaderMutation{{
		Action: &mutationv3.HeaderMutation_RemoveOnMatch_{RemoveOnMatch: &mutationv3.HeaderMutation_RemoveOnMatch{
			KeyMatcher: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: policy.IdentityHeaderPrefix},
				IgnoreCase:   true,
			},
		}},
	}}
	return &headermutationv3.HeaderMutation{
		Mutations: &headermutationv3.Mutations{RequestMutations: append(remove, removeHeaders(clientAddressHeaders)...)},
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

// realIPHeader carries the client's address, as Envoy saw the connection's
// peer, to services: many frameworks and logs read it. Tollgate sets it on
// every request (routeClientAddress) after removing the client's own.
const realIPHeader = "x-real-ip"

// clientAddressHeaders are the other headers services commonly read a
// client address from. At the edge the peer is the client, so a value a
// client sends in them is a claim, not a fact: they are removed like the
// identity headers. X-Forwarded-For is Envoy's to manage (it appends the
// peer; x-envoy-external-address holds it alone).
var clientAddressHeaders = []string{realIPHeader, "forwarded", "true-client-ip", "x-client-ip", "cf-connecting-ip", "fastly-client-ip"}

// routeClientAddress sets x-real-ip to the connection's peer address.
func routeClientAddress() *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: realIPHeader, Value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
