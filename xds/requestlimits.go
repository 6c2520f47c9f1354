package xds

import (
	"fmt"
	"math"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	bufferv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/buffer/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// Request limits (request_limits) are three Envoy features:
//
//   - max_headers is the connection manager's max_request_headers_kb:
//     Envoy checks it while it reads a request head, before any route is
//     chosen, and answers 431 (to HTTP/1.1, what the end-to-end test
//     sends), so it is a listener setting;
//   - a method not in methods (405, with Allow), a content type not in
//     content_types (415) and a Content-Length over max_body (413) are
//     routes of their own, generated just before the route with the same
//     match plus the condition, whose direct_response Envoy's router sends
//     (refusalRoutes). They run no ext_authz and no rate limit (those are
//     optIn and the generated routes do not enable them): a refused
//     request is never counted and never reaches the service. Only the
//     route's client_ips apply first, so an address refused gets 403
//     whatever it sends;
//   - a body without a Content-Length (chunked, or an HTTP/2 stream) meets
//     Envoy's buffer filter (bodyLimitFilter), which holds every body of
//     the route until it is whole and answers 413 once it passes
//     max_body: the service never sees a byte of it. The buffer filter is
//     the one body limit Envoy 1.40 configures per route: its streaming
//     body_size_limit filter has no per-route configuration (only by
//     wrapping it in the newer filter_chain filter). The cost is that an
//     admitted body up to max_body sits in memory before it is forwarded,
//     which policy bounds (policy.MaxBodyLimit), and that a stream is not
//     forwarded until it ends (policy.Streams).
//     It runs after authentication and the rate limits, so that only an
//     admitted request can make Envoy hold a body.

// maxRequestHeaders sets the listener's max_headers; without one, Envoy's
// own limit (policy.EnvoyMaxHeaders) applies.
func maxRequestHeaders(hcm *hcmv3.HttpConnectionManager, l *policy.Listener) {
	if l.RequestLimits != nil && l.RequestLimits.MaxHeadersBytes > 0 {
		hcm.MaxRequestHeadersKb = wrapperspb.UInt32(uint32(l.RequestLimits.MaxHeadersBytes >> 10)) //nolint:gosec // G115: at most 8192, validated
	}
}

// bodyLimitFilter is Envoy's buffer filter, enabled on the routes with a
// max_body: the route's own (routeConfig) or the listener's (the virtual
// host's, bodyLimitVirtualHost), the route's winning as the more specific.
type bodyLimitFilter struct{}

const bodyLimitFilterName = "tollgate.body_limit"

func (bodyLimitFilter) name() string { return bodyLimitFilterName }

func (bodyLimitFilter) optIn() bool { return true }

// listenerConfig is required by Envoy and never used: the filter is
// disabled at the listener.
func (bodyLimitFilter) listenerConfig(*policy.Policy, *policy.Listener) (proto.Message, error) {
	return &bufferv3.Buffer{MaxRequestBytes: wrapperspb.UInt32(policy.MaxBodyLimit)}, nil
}

// routeConfig is the route's own max_body; a route that streams
// (policy.Streams) and has none turns off the listener's.
func (bodyLimitFilter) routeConfig(p *policy.Policy, r *policy.Route) (proto.Message, error) {
	switch {
	case r.RequestLimits != nil && r.RequestLimits.MaxBodyBytes > 0:
		return bufferLimit(r.RequestLimits.MaxBodyBytes), nil
	case p.Streams(r):
		return bodyLimitOff(), nil
	}
	return nil, nil
}

func bodyLimitOff() *bufferv3.BufferPerRoute {
	return &bufferv3.BufferPerRoute{Override: &bufferv3.BufferPerRoute_Disabled{Disabled: true}}
}

func bufferLimit(n int64) *bufferv3.BufferPerRoute {
	return &bufferv3.BufferPerRoute{Override: &bufferv3.BufferPerRoute_Buffer{Buffer: &bufferv3.Buffer{
		MaxRequestBytes: wrapperspb.UInt32(uint32(n)), //nolint:gosec // G115: at most policy.MaxBodyLimit
	}}}
}

// bodyLimitVirtualHost adds the listener's max_body to the virtual host's
// per-filter configuration.
func bodyLimitVirtualHost(l *policy.Listener, vhost map[string]*anypb.Any) (map[string]*anypb.Any, error) {
	if l.RequestLimits == nil || l.RequestLimits.MaxBodyBytes == 0 {
		return vhost, nil
	}
	a, err := anypb.New(bufferLimit(l.RequestLimits.MaxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("encoding listener %s's max_body: %w", l.Name, err)
	}
	if vhost == nil {
		vhost = map[string]*anypb.Any{}
	}
	vhost[bodyLimitFilterName] = a
	return vhost, nil
}

// refusalRoutes are the routes answering for route r (translated as
// built) what its request limits refuse, in the order Envoy tries them:
// 405, then 413 on a declared length, then 415.
func refusalRoutes(p *policy.Policy, l *policy.Listener, r *policy.Route, built *routev3.Route) ([]*routev3.Route, error) {
	lim := r.RequestLimits
	var out []*routev3.Route
	if lim != nil && len(lim.Methods) > 0 {
		m := stringHeaderMatcher(methodHeader, safeRegex(methodAlternatives(lim.Methods)))
		m.InvertMatch = true
		out = append(out, refusal(r, 405, "method_not_allowed",
			"the route does not serve this method; Allow lists those it does", m))
		out[len(out)-1].ResponseHeadersToAdd = []*corev3.HeaderValueOption{{
			Header:       &corev3.HeaderValue{Key: "allow", Value: strings.Join(lim.Methods, ", ")},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}}
	}
	if max := p.MaxBodyFor(l, r); max > 0 {
		out = append(out, refusal(r, 413, "payload_too_large",
			fmt.Sprintf("the request body is larger than the %s the route accepts", policy.FormatByteSize(max)),
			&routev3.HeaderMatcher{Name: "content-length", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{
				RangeMatch: &typev3.Int64Range{Start: max + 1, End: math.MaxInt64},
			}}))
	}
	if lim != nil && len(lim.ContentTypes) > 0 {
		out = append(out, unsupportedMediaTypes(r)...)
	}
	return out, finishRefusals(l, built, out)
}

// unsupportedMediaTypes answer 415 to a Content-Type outside the route's
// content_types, and to a request without one that announces a body (a
// Content-Length other than 0) or, declaring no length, uses a method
// that carries one (policy.BodyMethods). Route matching cannot see a
// chunked body: Envoy's HTTP/1 codec consumes Transfer-Encoding, and an
// HTTP/2 body needs neither header. Refusing POST, PUT and PATCH without
// a type unless they say Content-Length: 0 closes both ways around the
// list; a GET or DELETE with a chunked body and no type still passes.
func unsupportedMediaTypes(r *policy.Route) []*routev3.Route {
	const msg = "the route does not read this content type"
	other := stringHeaderMatcher("content-type", safeRegex(r.RequestLimits.ContentTypePattern()))
	other.InvertMatch = true
	absent := func(name string) *routev3.HeaderMatcher {
		return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}}
	}
	length := stringHeaderMatcher("content-length", exact("0"))
	length.InvertMatch = true
	bodyMethod := stringHeaderMatcher(methodHeader, safeRegex(methodAlternatives(policy.BodyMethods)))
	return []*routev3.Route{
		refusal(r, 415, "unsupported_media_type", msg, other),
		refusal(r, 415, "unsupported_media_type", msg, absent("content-type"), length),
		refusal(r, 415, "unsupported_media_type", msg, absent("content-type"), absent("content-length"), bodyMethod),
	}
}

// methodAlternatives matches any of methods, exactly.
func methodAlternatives(methods []string) string {
	return "^(" + strings.Join(methods, "|") + ")$"
}

// refusal is a route matching what r matches and also when, answering
// status with Tollgate's JSON error body.
func refusal(r *policy.Route, status uint32, code, message string, when ...*routev3.HeaderMatcher) *routev3.Route {
	match := routeMatch(&r.Match)
	match.Headers = append(match.Headers, when...)
	return &routev3.Route{
		Name:  r.Name,
		Match: match,
		Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{
			Status:     status,
			BodyFormat: jsonErrorBody(code, message),
		}},
	}
}

// refusalRouteFilters are the filters whose per-route configuration the
// refusal routes share with their route: those that must still run
// before a 405, 413 or 415 (the route's client_ips, so that an address
// refused gets 403 first). A filter that authenticates or counts must
// never be listed, or a refusal would cost an authorization call or a
// counter; one shaping every answer of the route (CORS, response
// headers) may be.
var refusalRouteFilters = []string{routeClientIPFilterName}

// finishRefusals gives the refusal routes the route's configuration of
// refusalRouteFilters and turns the listener's body limit, when it has
// one, off on them: nothing is forwarded, so nothing need be buffered
// (the route's own limit is the route's per-filter configuration, which
// they do not share).
func finishRefusals(l *policy.Listener, built *routev3.Route, out []*routev3.Route) error {
	var off *anypb.Any
	if len(out) > 0 && l.RequestLimits != nil && l.RequestLimits.MaxBodyBytes > 0 {
		var err error
		if off, err = anypb.New(bodyLimitOff()); err != nil {
			return fmt.Errorf("encoding the body limit's removal: %w", err)
		}
	}
	for _, route := range out {
		route.TypedPerFilterConfig = map[string]*anypb.Any{}
		if off != nil {
			route.TypedPerFilterConfig[bodyLimitFilterName] = off
		}
		for _, name := range refusalRouteFilters {
			if config, ok := built.TypedPerFilterConfig[name]; ok {
				route.TypedPerFilterConfig[name] = config
			}
		}
		if len(route.TypedPerFilterConfig) == 0 {
			route.TypedPerFilterConfig = nil
		}
	}
	return nil
}
