package policy

import (
	"fmt"
	"slices"
	"strings"
)

// listenerRequestLimits checks a listener's request_limits: a body and a
// header size; methods and content types belong to routes.
func (v *validator) listenerRequestLimits(l *Listener, path string) {
	r := l.RequestLimits
	if r == nil {
		return
	}
	path += ".request_limits"
	for _, f := range []string{"methods", "content_types"} {
		if r.Has(f) {
			v.errorf(r.At(f), path+"."+f, "%s is a route setting: set it in the routes' request_limits", f)
		}
	}
	v.maxBody(r, path)
	if !r.Has("max_headers") {
		return
	}
	n, err := parseByteSize(r.MaxHeaders)
	switch {
	case err != nil:
		v.errorf(r.At("max_headers"), path+".max_headers", "%v", err)
	case n%1024 != 0 || n > MaxHeadersLimit:
		v.errorf(r.At("max_headers"), path+".max_headers", "max_headers must be a whole number of KiB from 1KiB to %s (Envoy's limits), got %s", FormatByteSize(MaxHeadersLimit), r.MaxHeaders)
	default:
		r.MaxHeadersBytes = n
	}
}

// routeRequestLimits checks a route's request_limits.
func (v *validator) routeRequestLimits(rt *Route, path string) {
	r := rt.RequestLimits
	if r == nil {
		return
	}
	path += ".request_limits"
	if r.Has("max_headers") {
		v.errorf(r.At("max_headers"), path+".max_headers", "Envoy reads a request's headers before it chooses a route: set max_headers on the listener")
	}
	v.maxBody(r, path)
	if r.Has("max_body") && len(rt.Upgrades) > 0 {
		v.errorf(r.At("max_body"), path+".max_body", "the route upgrades to %s, a stream Envoy would hold until it ends: remove max_body", strings.Join(rt.Upgrades, ", "))
	}
	if len(rt.Match.Methods) > 0 && len(r.Methods) > 0 {
		v.errorf(r.At("methods"), path+".methods", "the route also matches on methods (match.methods), so other methods never reach it: keep one of the two (match.methods lets them fall through to later routes, request_limits.methods answers 405)")
	}
	if r.Has("methods") && len(r.Methods) == 0 {
		v.errorf(r.At("methods"), path+".methods", "an empty methods list would refuse every request; list the methods the route serves")
	}
	for i, m := range r.Methods {
		p := fmt.Sprintf("%s.methods[%d]", path, i)
		switch {
		case !slices.Contains(methods, m):
			v.errorf(r.At("methods"), p, "unknown method %q; expected upper-case, one of: %s", m, strings.Join(methods, ", "))
		case slices.Index(r.Methods, m) != i:
			v.errorf(r.At("methods"), p, "method %q is listed twice", m)
		}
	}
	if r.Has("content_types") && len(r.ContentTypes) == 0 {
		v.errorf(r.At("content_types"), path+".content_types", "an empty content_types list would refuse every body; list the media types the route reads")
	}
	bad := false
	for i, t := range r.ContentTypes {
		if !validMediaType(t) {
			bad = true
			v.errorf(r.At("content_types"), fmt.Sprintf("%s.content_types[%d]", path, i), "%q is not a media type in lower case without parameters, such as application/json or text/*", t)
		}
	}
	if len(r.ContentTypes) > 0 && !bad {
		v.regex(r.ContentTypePattern(), r.At("content_types"), path+".content_types")
	}
}

// maxBody parses a max_body.
func (v *validator) maxBody(r *RequestLimits, path string) {
	if !r.Has("max_body") {
		return
	}
	n, err := parseByteSize(r.MaxBody)
	switch {
	case err != nil:
		v.errorf(r.At("max_body"), path+".max_body", "%v", err)
	case n > MaxBodyLimit:
		v.errorf(r.At("max_body"), path+".max_body", "max_body is at most %s: Envoy holds a limited body in memory until it is whole; leave max_body out for larger uploads, which then stream", FormatByteSize(MaxBodyLimit))
	default:
		r.MaxBodyBytes = n
	}
}
