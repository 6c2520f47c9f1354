package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// hardenEdge sets what a connection manager facing the internet needs
// beyond Envoy's defaults (https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge),
// so that a request cannot name one route to the gateway and another to
// the service behind it.
func hardenEdge(hcm *hcmv3.HttpConnectionManager) {
	// "/public/..%2fadmin" matches a /public route, and a service that
	// decodes %2F before resolving dot segments then serves /admin.
	// Unescaping %2F and %5C and redirecting makes the client ask for the
	// normalized path, which is then matched like any other.
	hcm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
	// "admin.example.com." is the same name as "admin.example.com" to DNS
	// and to most services, but not to host matching.
	hcm.StripTrailingHostDot = true
	// CGI-style services (WSGI, PHP, Rack) read both x_tollgate_client_id
	// and x-tollgate-client-id as HTTP_X_TOLLGATE_CLIENT_ID; only the
	// second is removed by the identity header filter. Refuse the first.
	hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{
		HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
	}
}
