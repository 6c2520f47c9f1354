package xds

import (
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// This file translates what a route does besides choosing a service:
// upgrades (WebSocket), rewrites, redirects, direct responses and
// deprecation headers.

// listenerUpgrades names every upgrade a route may allow, switched off:
// Envoy only lets a route enable an upgrade its connection manager knows,
// and listing them all, always, means allowing one on a route changes that
// route's configuration (RDS) only, never the listener, whose replacement
// would drain its connections.
func listenerUpgrades() []*hcmv3.HttpConnectionManager_UpgradeConfig {
	out := make([]*hcmv3.HttpConnectionManager_UpgradeConfig, len(policy.Upgrades))
	for i, u := range policy.Upgrades {
		out[i] = &hcmv3.HttpConnectionManager_UpgradeConfig{UpgradeType: u, Enabled: wrapperspb.Bool(false)}
	}
	return out
}

// routeUpgrades switches on the upgrades a route allows. The upgrade
// request runs through the same filters as any other (authentication,
// rate limits) before Envoy forwards it.
func routeUpgrades(r *policy.Route) []*routev3.RouteAction_UpgradeConfig {
	var out []*routev3.RouteAction_UpgradeConfig
	for _, u := range r.Upgrades {
		out = append(out, &routev3.RouteAction_UpgradeConfig{UpgradeType: u, Enabled: wrapperspb.Bool(true)})
	}
	return out
}

// setAction gives the route what Envoy does with its requests: redirect,
// answer, or forward (with its rewrites and upgrades).
func setAction(route *routev3.Route, p *policy.Policy, r *policy.Route) error {
	switch {
	case r.Redirect != nil:
		route.Action = &routev3.Route_Redirect{Redirect: redirectAction(r.Redirect)}
	case r.Respond != nil:
		route.Action = &routev3.Route_DirectResponse{DirectResponse: directResponse(r.Respond)}
		if r.Respond.ContentType != "" {
			route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, setHeader("content-type", r.Respond.ContentType))
		}
	default:
		action, err := forwardAction(p, r)
		if err != nil {
			return err
		}
		rewrite(action, r.Rewrite)
		action.UpgradeConfigs = routeUpgrades(r)
		route.Action = &routev3.Route_Route{Route: action}
	}
	route.ResponseHeadersToAdd = append(route.ResponseHeadersToAdd, deprecationHeaders(r.Deprecation)...)
	return nil
}

// rewrite sets how Envoy changes the request it forwards.
func rewrite(action *routev3.RouteAction, rw *policy.Rewrite) {
	if rw == nil {
		return
	}
	action.PrefixRewrite = rw.PathPrefix
	if rw.PathRegex != nil {
		action.RegexRewrite = regexRewrite(rw.PathRegex)
	}
	switch {
	case rw.Host != "":
		action.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Host}
	case rw.AutoHost:
		action.HostRewriteSpecifier = &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}
	}
}

func regexRewrite(rr *policy.RegexRewrite) *matcherv3.RegexMatchAndSubstitute {
	return &matcherv3.RegexMatchAndSubstitute{Pattern: regex(rr.Pattern), Substitution: rr.Substitution}
}

// redirectCodes maps a redirect's status to Envoy's enum.
var redirectCodes = map[int]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

func redirectAction(rd *policy.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{
		HostRedirect: rd.Host,
		PortRedirect: uint32(rd.Port), //nolint:gosec // G115: validation keeps it within 1-65535
		ResponseCode: redirectCodes[rd.Status],
		StripQuery:   rd.StripQuery,
	}
	if rd.Scheme != "" {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: rd.Scheme}
	}
	switch {
	case rd.Path != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: rd.Path}
	case rd.PathPrefix != "":
		out.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: rd.PathPrefix}
	case rd.PathRegex != nil:
		out.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: regexRewrite(rd.PathRegex)}
	}
	return out
}

func directResponse(d *policy.DirectResponse) *routev3.DirectResponseAction {
	out := &routev3.DirectResponseAction{Status: uint32(d.Status)} //nolint:gosec // G115: validation keeps it within 200-599
	if d.Body != "" {
		out.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: d.Body}}
	}
	return out
}

// deprecationHeaders are the Deprecation, Sunset and Link headers of a
// deprecated route. Deprecation and Sunset replace what a service sent (the
// policy decides when a version retires); Link is added beside the
// service's own Link headers (pagination, say), never replacing them.
func deprecationHeaders(d *policy.Deprecation) []*corev3.HeaderValueOption {
	if d == nil {
		return nil
	}
	var out []*corev3.HeaderValueOption
	for _, h := range d.Headers() {
		opt := setHeader(h[0], h[1])
		if h[0] == "Link" {
			opt.AppendAction = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		out = append(out, opt)
	}
	return out
}

// setHeader sets a response header to a literal value. Envoy reads %...%
// in header values as command operators, so a literal % is doubled.
func setHeader(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(name), Value: strings.ReplaceAll(value, "%", "%%")},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}
