package policy

import (
	"slices"
	"strings"
)

// ServiceNames returns the service names in sorted order.
func (p *Policy) ServiceNames() []string {
	names := make([]string, 0, len(p.Services))
	for name := range p.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// ListenersFor returns the listeners served to Envoys of a node group, in
// policy order.
func (p *Policy) ListenersFor(group string) []*Listener {
	var out []*Listener
	for _, l := range p.Listeners {
		if len(l.Groups) == 0 || slices.Contains(l.Groups, group) {
			out = append(out, l)
		}
	}
	return out
}

// RoutesFor returns the routes attached to a listener, in evaluation order.
func (p *Policy) RoutesFor(listener string) []*Route {
	var out []*Route
	for _, r := range p.Routes {
		if len(r.Listeners) == 0 || slices.Contains(r.Listeners, listener) {
			out = append(out, r)
		}
	}
	return out
}

// IdentityHeaderPrefix starts the name of every header through which the
// gateway tells a service who called (x-tollgate-client-id, ...). Envoy
// removes every such header a client sends before anything else runs.
const IdentityHeaderPrefix = "x-tollgate-"

// IdentityHeaders are the other request headers only the gateway may set,
// such as headers that carry verified token claims; Envoy removes them
// from client requests like the x-tollgate-* ones. Sorted, lower-case.
func (p *Policy) IdentityHeaders() []string {
	return p.authHeaders()
}

// gatewaySetHeaders are the request headers the gateway sets on every
// client request besides those it removes (ClientHeaders): x-real-ip,
// which xds sets to the peer, and x-request-id, Envoy's own at the edge.
var gatewaySetHeaders = []string{"x-real-ip", "x-request-id"}

// gatewaySetPrefixes start the names of headers Envoy or Tollgate set,
// overwrite or remove on client requests.
var gatewaySetPrefixes = []string{IdentityHeaderPrefix, "x-forwarded-", "x-envoy-", "x-b3-"}

// GatewaySetHeader reports whether the gateway sets, overwrites or
// removes a request header, so that what reaches a service is not what
// the client sent: the identity headers, the client address headers,
// x-forwarded-*, x-envoy-*, B3 and x-request-id, among others. Routes may
// not match on them: Envoy selects the route from the client's value,
// before the gateway replaces or removes it.
func (p *Policy) GatewaySetHeader(name string) bool {
	name = strings.ToLower(name)
	for _, prefix := range gatewaySetPrefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return slices.Contains(gatewaySetHeaders, name) || slices.Contains(ClientHeaders, name) ||
		slices.Contains(p.IdentityHeaders(), name)
}
