package xds

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/tollgate/tollgate/policy"
)

// Header changes (listeners[].headers and routes[].headers) are route
// configuration, so editing them never touches a listener: a listener's
// are its virtual host's, a route's the route's. The route configuration
// sets most_specific_header_mutations_wins, so Envoy applies them after
// the gateway's own (the route configuration's: client address headers,
// the API key header's removal), the listener's before the route's, and
// within each level removals before sets and adds. Validation keeps every
// header the gateway sets, removes or trusts out of reach, so that order
// cannot let a change undo the gateway's.

// headerChanges is what Envoy applies for one listener's or route's
// header changes.
type headerChanges struct {
	requestAdd     []*corev3.HeaderValueOption
	requestRemove  []string
	responseAdd    []*corev3.HeaderValueOption
	responseRemove []string
}

func buildHeaderChanges(h *policy.HeaderChanges) headerChanges {
	if h == nil {
		return headerChanges{}
	}
	var out headerChanges
	out.requestAdd, out.requestRemove = headerChangeSet(h.Request)
	out.responseAdd, out.responseRemove = headerChangeSet(h.Response)
	return out
}

// applyToVirtualHost adds a listener's changes to its virtual host.
func (c headerChanges) applyToVirtualHost(vh *routev3.VirtualHost) {
	vh.RequestHeadersToAdd, vh.RequestHeadersToRemove = c.requestAdd, c.requestRemove
	vh.ResponseHeadersToAdd, vh.ResponseHeadersToRemove = c.responseAdd, c.responseRemove
}

// applyToRoute adds a route's changes to the route, after the removals
// the route already has (credentials), each name once.
func (c headerChanges) applyToRoute(r *routev3.Route) {
	r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, c.requestAdd...)
	for _, name := range c.requestRemove {
		if !slices.Contains(r.RequestHeadersToRemove, name) {
			r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, name)
		}
	}
	r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, c.responseAdd...)
	r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, c.responseRemove...)
}

// headerChangeSet translates one direction: set overwrites every value,
// add appends one. Envoy skips a header whose value comes out empty (an
// anonymous caller's identity), leaving what the request or response
// already had; so a set header is also removed first, and a client's
// x-caller never passes for the gateway's when the caller is anonymous.
func headerChangeSet(s *policy.HeaderChangeSet) ([]*corev3.HeaderValueOption, []string) {
	if s.Empty() {
		return nil, nil
	}
	var add []*corev3.HeaderValueOption
	var remove []string
	for _, hv := range s.Set {
		add = append(add, headerOption(hv, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD))
		remove = append(remove, strings.ToLower(hv.Name))
	}
	for _, hv := range s.Add {
		add = append(add, headerOption(hv, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD))
	}
	for _, name := range s.Remove {
		remove = append(remove, strings.ToLower(name))
	}
	return add, remove
}

func headerOption(hv *policy.HeaderValue, action corev3.HeaderValueOption_HeaderAppendAction) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(hv.Name), Value: headerFormat(hv.Parts)},
		AppendAction: action,
	}
}

// headerFormat is a value as Envoy's header formatter reads it: literal
// text with every "%" doubled, so no policy can name a command operator
// of its own (and read other request data), and each placeholder as the
// one operator it stands for.
func headerFormat(parts []policy.ValuePart) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Placeholder == "" {
			b.WriteString(strings.ReplaceAll(p.Literal, "%", "%%"))
			continue
		}
		b.WriteString(placeholderFormat(p.Placeholder))
	}
	return b.String()
}

// placeholderFormat is the Envoy command operator of a placeholder. The
// identity is the ext_authz filter's dynamic metadata, which Tollgate's
// authorization service sets on every request it allows (authz.metadata),
// under the field names of policy.Placeholder.IdentityField.
func placeholderFormat(p policy.Placeholder) string {
	switch p {
	case policy.PlaceholderClientIP:
		return clientAddressValue
	case policy.PlaceholderRoute:
		return "%ROUTE_NAME%"
	}
	return "%DYNAMIC_METADATA(" + extAuthzMetadataNamespace + ":" + p.IdentityField() + ")%"
}

// extAuthzMetadataNamespace is where Envoy's ext_authz filter, named so
// in the chain, stores the dynamic metadata of an allowed request
// (authz.MetadataNamespace; xds does not import authz).
const extAuthzMetadataNamespace = wellknown.HTTPExternalAuthorization
