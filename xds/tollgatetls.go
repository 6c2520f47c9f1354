package xds

import (
	"net/netip"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// The static secrets of Envoy's bootstrap (envoy/bootstrap.yaml.tmpl,
// written by `tollgate bootstrap` and envoy.Bootstrap) that Envoy uses to
// reach Tollgate over mutual TLS. Tollgate's own clusters name them
// without an SDS source, which makes Envoy look them up in its bootstrap:
// each Envoy's certificate stays on its machine, never on the control
// plane, and the clusters are the same for every Envoy of a group.
const (
	// TollgateClientCertSecret is Envoy's client certificate and key.
	TollgateClientCertSecret = "tollgate_client_cert"
	// TollgateCASecret is the CA bundle Tollgate's certificate chains to.
	TollgateCASecret = "tollgate_ca"
)

// useTollgateTLS makes Envoy call a Tollgate service at host over mutual
// TLS: it presents its client certificate, and Tollgate's certificate must
// chain to the bootstrap's CA and name host (a DNS or IP SAN), as an
// HTTPS client would check. gRPC needs ALPN "h2".
func useTollgateTLS(c *clusterv3.Cluster, host string) error {
	san := &tlsv3.SubjectAltNameMatcher{
		SanType: tlsv3.SubjectAltNameMatcher_DNS,
		Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: host}},
	}
	sni := host
	if _, err := netip.ParseAddr(host); err == nil {
		san.SanType, sni = tlsv3.SubjectAltNameMatcher_IP_ADDRESS, ""
	}
	ts, err := tlsTransportSocket(&tlsv3.UpstreamTlsContext{
		Sni: sni,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			AlpnProtocols:                  []string{"h2"},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: TollgateClientCertSecret}},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
				CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
					DefaultValidationContext:         &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{san}},
					ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: TollgateCASecret},
				},
			},
		},
	})
	if err != nil {
		return err
	}
	c.TransportSocket = ts
	return nil
}
