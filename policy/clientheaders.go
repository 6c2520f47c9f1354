package policy

import (
	"slices"
	"strings"
)

// ClientHeaders are the request headers the gateway removes from every
// client request, besides the identity headers (x-tollgate-*, claim
// headers) and Envoy's (x-envoy-*): services and frameworks read them as
// facts about the client or about how the request reached them, and at
// the edge a client's value is only a claim (docs/policy.md, "What
// services may trust"). Lower-case.
//
// A listener may keep some of them (keep_client_headers) when what stands
// in front of it sets them and clients cannot reach it otherwise, such as
// a CDN's cf-connecting-ip. X-Forwarded-For and X-Real-IP are not among
// them: the gateway always sets them to the client's address.
var ClientHeaders = []string{
	// Client addresses.
	"forwarded", "true-client-ip", "x-client-ip", "client-ip", "x-cluster-client-ip",
	"cf-connecting-ip", "fastly-client-ip",
	// How a proxy in front of the service was addressed: frameworks build
	// redirects and links from them.
	"x-forwarded-host", "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-server",
	"x-forwarded-scheme", "x-forwarded-ssl", "x-forwarded-uri", "x-url-scheme", "front-end-https",
	// The URL or method the client "really" meant: IIS, Symfony and
	// Laminas take the path from the first two, many frameworks the method
	// from the others, past the route that matched.
	"x-original-url", "x-rewrite-url", "x-original-uri",
	"x-http-method-override", "x-http-method", "x-method-override",
	// Zipkin B3 trace context: the gateway speaks W3C trace context
	// (traceparent and tracestate, which it keeps).
	"b3", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags",
}

// RemovedClientHeaders are the ClientHeaders removed on a listener: all
// but the ones it keeps.
func (l *Listener) RemovedClientHeaders() []string {
	return slices.DeleteFunc(slices.Clone(ClientHeaders), func(h string) bool {
		return slices.ContainsFunc(l.KeepClientHeaders, func(k string) bool { return strings.EqualFold(k, h) })
	})
}

func (v *validator) keepClientHeaders(l *Listener, path string) {
	for _, h := range l.KeepClientHeaders {
		if !slices.Contains(ClientHeaders, strings.ToLower(h)) {
			v.errorf(l.At("keep_client_headers"), path+".keep_client_headers",
				"%q is not a client header the gateway removes; one of: %s", h, strings.Join(ClientHeaders, ", "))
		}
	}
}
