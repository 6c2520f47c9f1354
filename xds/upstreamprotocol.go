package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// httpProtocolOptionsName is the key under which a cluster carries its
// upstream HTTP options.
const httpProtocolOptionsName = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// upstreamProtocolOptions tells Envoy to speak HTTP/2 to services whose
// protocol is http2, h2c or grpc. HTTP/1.1 is Envoy's default and needs
// nothing. HTTP/2 is explicit rather than negotiated by ALPN: h2c has no
// negotiation, and a gRPC service cannot fall back to HTTP/1.1.
func upstreamProtocolOptions(s *policy.Service) (map[string]*anypb.Any, error) {
	if !s.Protocol.UsesHTTP2() {
		return nil, nil
	}
	opts := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
				Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
			},
		}},
	}
	a, err := anypb.New(opts)
	if err != nil {
		return nil, err
	}
	return map[string]*anypb.Any{httpProtocolOptionsName: a}, nil
}
