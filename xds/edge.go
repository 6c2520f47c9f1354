package xds

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Limits on what one downstream connection may hold, after Envoy's edge
// best practices (https://www.envoyproxy.io/docs/envoy/latest/configuration/best_practices/edge).
// Envoy's own defaults already cap request headers at 60 KiB and 100
// headers, which suit an API gateway.
const (
	// edgeRequestHeadersTimeout is how long a client may take to send its
	// request headers; a slowloris client trickling them is cut off (408).
	edgeRequestHeadersTimeout = 10 * time.Second
	// edgeStreamIdleTimeout ends a request on which nothing moved for this
	// long, in either direction.
	edgeStreamIdleTimeout = 5 * time.Minute
	// edgeConnectionIdleTimeout closes a connection without requests.
	edgeConnectionIdleTimeout = time.Hour
	// edgeMaxConcurrentStreams bounds the requests one HTTP/2 connection
	// may have open, so one client cannot take the gateway's capacity.
	edgeMaxConcurrentStreams = 100
	// edgeStreamWindow and edgeConnectionWindow are HTTP/2 flow-control
	// windows: what a client may make Envoy buffer per request and per
	// connection before Envoy stops reading.
	edgeStreamWindow     = 64 << 10
	edgeConnectionWindow = 1 << 20
	// edgeConnectionBufferLimit is what Envoy buffers per connection
	// before it applies back pressure.
	edgeConnectionBufferLimit = 32 << 10
)

// hardenEdge sets what a connection manager facing the internet needs
// beyond Envoy's defaults, so that a request cannot name one route to the
// gateway and another to the service behind it, and a slow or greedy
// client cannot hold the gateway's resources.
func hardenEdge(hcm *hcmv3.HttpConnectionManager) {
	// "/public/..%2fadmin" matches a /public route, and a service that
	// decodes %2F before resolving dot segments then serves /admin.
	// Unescaping %2F and %5C and redirecting makes the client ask for the
	// normalized path, which is then matched like any other.
	hcm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
	// "admin.example.com." is the same name as "admin.example.com" to DNS
	// and to most services, but not to host matching.
	hcm.StripTrailingHostDot = true
	hcm.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{
		// CGI-style services (WSGI, PHP, Rack) read both
		// x_tollgate_client_id and x-tollgate-client-id as
		// HTTP_X_TOLLGATE_CLIENT_ID; only the second is removed by the
		// identity header filter. Refuse the first.
		HeadersWithUnderscoresAction: corev3.HttpProtocolOptions_REJECT_REQUEST,
		IdleTimeout:                  durationpb.New(edgeConnectionIdleTimeout),
	}
	hcm.RequestHeadersTimeout = durationpb.New(edgeRequestHeadersTimeout)
	hcm.StreamIdleTimeout = durationpb.New(edgeStreamIdleTimeout)
	hcm.Http2ProtocolOptions = &corev3.Http2ProtocolOptions{
		MaxConcurrentStreams:        wrapperspb.UInt32(edgeMaxConcurrentStreams),
		InitialStreamWindowSize:     wrapperspb.UInt32(edgeStreamWindow),
		InitialConnectionWindowSize: wrapperspb.UInt32(edgeConnectionWindow),
	}
}
