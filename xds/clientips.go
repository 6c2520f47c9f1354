package xds

import (
	"fmt"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// Client address lists (client_ips) are Envoy's RBAC filter, one instance
// for the listener's lists and one for the route's, so that a request
// must pass both without Tollgate merging them per listener and route.
// Both come right after the identity header filter, before the
// before_auth limits and ext_authz: a refused address costs neither an
// authorization call nor a counter, and is never counted against a
// limit. RBAC's 403 body becomes Tollgate's JSON in localreplies.go.
//
// The principal is remote_ip: the downstream remote address after the
// connection manager resolved it (use_remote_address with
// xff_num_trusted_hops, the XFF extension for trusted_cidrs, or the PROXY
// protocol filter), the address every other client_ip setting uses.
// direct_remote_ip would be the load balancer's address behind one, and
// a header a client writes is never read.
//
// Both filters are optIn: the listener's lists are the virtual host's
// per-filter configuration (RDS), the route's are the route's, so
// editing a list never changes, and never drains, the listener.
type (
	listenerClientIPFilter struct{}
	routeClientIPFilter    struct{}
)

const (
	listenerClientIPFilterName = "tollgate.client_ips.listener"
	routeClientIPFilterName    = "tollgate.client_ips.route"
)

func (listenerClientIPFilter) name() string { return listenerClientIPFilterName }
func (routeClientIPFilter) name() string    { return routeClientIPFilterName }
func (listenerClientIPFilter) optIn() bool  { return true }
func (routeClientIPFilter) optIn() bool     { return true }

// listenerConfig has no rules: the filter is disabled at the listener,
// and RBAC without rules would allow every request anyway.
func (listenerClientIPFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &rbacv3.RBAC{}, nil
}

func (routeClientIPFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &rbacv3.RBAC{}, nil
}

// routeConfig is nil: the listener's lists are set on the virtual host
// (clientIPVirtualHost), which every route inherits.
func (listenerClientIPFilter) routeConfig(*policy.Policy, *policy.Route) (proto.Message, error) {
	return nil, nil
}

func (routeClientIPFilter) routeConfig(_ *policy.Policy, r *policy.Route) (proto.Message, error) {
	if r.ClientIPs == nil {
		return nil, nil
	}
	return clientIPRules(r.ClientIPs), nil
}

// clientIPVirtualHost adds the listener's lists to the virtual host's
// per-filter configuration.
func clientIPVirtualHost(l *policy.Listener, vhost map[string]*anypb.Any) (map[string]*anypb.Any, error) {
	rules := clientIPRules(l.ClientIPs)
	if rules == nil {
		return vhost, nil
	}
	a, err := anypb.New(rules)
	if err != nil {
		return nil, fmt.Errorf("encoding listener %s's client_ips: %w", l.Name, err)
	}
	if vhost == nil {
		vhost = map[string]*anypb.Any{}
	}
	vhost[listenerClientIPFilterName] = a
	return vhost, nil
}

// clientIPPolicyName names the one RBAC policy; Envoy reports it in the
// 403's response code details and the filter's stats.
const clientIPPolicyName = "client_ips"

// clientIPRules allows a request whose resolved address is in an allowed
// range (when there are any) and in no denied one; nil for no lists.
// One ALLOW policy expresses both lists, since an RBAC configuration has
// a single action.
func clientIPRules(c *policy.ClientIPs) *rbacv3.RBACPerRoute {
	if c == nil {
		return nil
	}
	var ids []*rbacconfigv3.Principal
	if len(c.AllowCIDRs) > 0 {
		ids = append(ids, anyRemoteIP(c.AllowCIDRs))
	}
	if len(c.DenyCIDRs) > 0 {
		ids = append(ids, &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_NotId{NotId: anyRemoteIP(c.DenyCIDRs)}})
	}
	principal := ids[0]
	if len(ids) > 1 {
		principal = &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: &rbacconfigv3.Principal_Set{Ids: ids}}}
	}
	return &rbacv3.RBACPerRoute{Rbac: &rbacv3.RBAC{Rules: &rbacconfigv3.RBAC{
		Action: rbacconfigv3.RBAC_ALLOW,
		Policies: map[string]*rbacconfigv3.Policy{clientIPPolicyName: {
			Permissions: []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}},
			Principals:  []*rbacconfigv3.Principal{principal},
		}},
	}}}
}

// anyRemoteIP matches a resolved client address in any of the ranges.
func anyRemoteIP(cidrs []netip.Prefix) *rbacconfigv3.Principal {
	ids := make([]*rbacconfigv3.Principal, len(cidrs))
	for i, p := range cidrs {
		ids[i] = &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_RemoteIp{RemoteIp: cidrRange(p)}}
	}
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_OrIds{OrIds: &rbacconfigv3.Principal_Set{Ids: ids}}}
}

func cidrRange(p netip.Prefix) *corev3.CidrRange {
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))} //nolint:gosec // G115: 0 to 128
}
