package xds

import (
	"fmt"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/tollgate/tollgate/policy"
)

// upstreamTransportSocket is TLS (or mutual TLS) from Envoy to a service:
// the service's certificate must chain to the policy's CA and carry one of
// the expected SANs; Envoy presents its client certificate when one is
// configured. The CA and client certificate arrive as SDS secrets.
func upstreamTransportSocket(s *policy.Service) (*corev3.TransportSocket, error) {
	t := s.TLS
	if t == nil {
		return nil, nil
	}
	common := &tlsv3.CommonTlsContext{
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: sanMatchers(t)},
				ValidationContextSdsSecretConfig: sdsSecret(serviceCASecret(s.Name)),
			},
		},
	}
	if t.ClientCert != "" {
		common.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{sdsSecret(serviceClientCertSecret(s.Name))}
	}
	if s.Protocol.UsesHTTP2() {
		common.AlpnProtocols = []string{"h2"}
	}
	return tlsTransportSocket(&tlsv3.UpstreamTlsContext{CommonTlsContext: common, Sni: t.SNI})
}

// sanMatchers are the names the service's certificate must carry one of
// (Load defaults them to the SNI). A name with "://" is a URI SAN (such as
// a SPIFFE id), anything else a DNS SAN.
func sanMatchers(t *policy.UpstreamTLS) []*tlsv3.SubjectAltNameMatcher {
	var out []*tlsv3.SubjectAltNameMatcher
	for _, n := range t.SAN {
		typ := tlsv3.SubjectAltNameMatcher_DNS
		if strings.Contains(n, "://") {
			typ = tlsv3.SubjectAltNameMatcher_URI
		}
		out = append(out, &tlsv3.SubjectAltNameMatcher{
			SanType: typ,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: n}},
		})
	}
	return out
}

// upstreamSecrets are the SDS secrets a service's TLS refers to.
func upstreamSecrets(s *policy.Service) []*tlsv3.Secret {
	t := s.TLS
	if t == nil {
		return nil
	}
	out := []*tlsv3.Secret{validationSecret(serviceCASecret(s.Name), t.CAPEM)}
	if t.ClientCert != "" {
		out = append(out, certificateSecret(serviceClientCertSecret(s.Name), t.ClientCertPEM, t.ClientKeyPEM.Bytes()))
	}
	return out
}

// tlsTransportSocket wraps a TLS context as Envoy's TLS transport socket.
func tlsTransportSocket(ctx proto.Message) (*corev3.TransportSocket, error) {
	a, err := anypb.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("encoding the TLS context: %w", err)
	}
	return &corev3.TransportSocket{
		Name:       wellknown.TransportSocketTls,
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: a},
	}, nil
}
