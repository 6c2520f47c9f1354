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
// who called or how the request reached it: every x-tollgate-* header,
// the names in Policy.IdentityHeaders, the client-address headers, the
// forwarding headers, every x-envoy-* header and B3 trace context. A
// client can therefore never forge an identity or a hop a service would
// trust; only filters and route configuration running after this one set
// them (routeClientAddress). The configuration depends on the policy's
// claim headers only, never on its routes, so route edits leave the
// listener alone.
type identityHeaderFilter struct{}

func (identityHeaderFilter) name() string { return "tollgate.identity_headers" }

func (identityHeaderFilter) listenerConfig(p *policy.Policy, _ *policy.Listener) (proto.Message, error) {
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
	names := append(append(p.IdentityHeaders(), clientAddressHeaders...), forwardingHeaders...)
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
//     routeClientAddress sets x-envoy-external-address again;
//   - x-b3-*: Zipkin B3 trace context. The gateway speaks W3C trace
//     context (traceparent, tracestate, kept: see xds/tracing.go); a
//     service reading B3 would join a trace the client made up.
var removedHeaderPrefixes = []string{policy.IdentityHeaderPrefix, "x-envoy-", "x-b3-"}

// realIPHeader carries the client's address, as Envoy saw the connection's
// peer, to services: many frameworks and logs read it. Tollgate sets it on
// every request (routeClientAddress) after removing the client's own.
const realIPHeader = "x-real-ip"

// clientAddressHeaders are the other headers services commonly read a
// client address from. At the edge the peer is the client, so a value a
// client sends in them is a claim, not a fact: they are removed like the
// identity headers. X-Forwarded-For is overwritten (routeClientAddress).
var clientAddressHeaders = []string{realIPHeader, "forwarded", "true-client-ip", "x-client-ip", "client-ip", "x-cluster-client-ip", "cf-connecting-ip", "fastly-client-ip"}

// forwardingHeaders tell a service how a proxy in front of it was
// addressed (host, port, scheme, path prefix), which URL the client
// really asked for, or which method it meant. Frameworks build redirects
// and links from the first kind, and some route on the others
// (X-Original-URL and X-Rewrite-URL replace the path in IIS, Symfony and
// Laminas; X-HTTP-Method-Override the method in many frameworks), so a
// client's value would make the service see another request than the one
// the gateway routed and authorized. The "b3" single header is the B3
// trace context of removedHeaderPrefixes. X-Forwarded-Proto is Envoy's
// (it sets the scheme it accepted).
var forwardingHeaders = []string{
	"x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server",
	"x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-uri", "x-url-scheme", "front-end-https",
	"x-original-url", "x-rewrite-url", "x-original-uri",
	"x-http-method-override", "x-http-method", "x-method-override",
	"b3",
}

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
