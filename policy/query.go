package policy

import "slices"

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
