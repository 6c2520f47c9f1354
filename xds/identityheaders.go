package xds

import (
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/policy"
)

// identityHeaderFilter removes, first in every chain and on every route
// (public ones too), each header through which the gateway tells services
// who called or how the request reached it: every x-tollgate-* and
// x-envoy-* header, the names in Policy.IdentityHeaders, x-real-ip, and
// policy.ClientHeaders less those the listener keeps. A client can
// therefore never forge an identity or a hop a service would trust; only
// filters and route configuration running after this one set them
// (routeClientAddress). The configuration depends on the policy's claim
// headers and the listener's keep_client_headers, never on routes, so
// route edits leave the listener alone.
type identityHeaderFilter struct{}

func (identityHeaderFilter) name() string { return "tollgate.identity_headers" }

func (identityHeaderFilter) listenerConfig(p *policy.Policy, l *policy.Listener) (proto.Message, error) {
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
	names := append(append(p.IdentityHeaders(), realIPHeader), l.RemovedClientHeaders()...)
	for _, h := range names {
		remove = append(remove, &mutationv3.HeaderMutation{Action: &mutationv3.HeaderMutation_Remove{Remove: h}})
	}
	return &headermutationv3.HeaderMutation{
		Mutations: &headermutationv3.Mutations{RequestMutations: remove},
	}, nil
}

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
// the connection's peer. It is the one place that decides it; with
// trusted proxies in front of Envoy (xff_num_trusted_hops), Envoy's
// downstream remote address is the client they vouch for, and this value
// follows.
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
