package xds

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/tollgate/tollgate/policy"
)

// listenerTransportSocket terminates TLS at a listener: its certificates
// over SDS (Envoy picks one by SNI), ALPN h2 and http/1.1, TLS 1.2 or the
// policy's minimum, and, with a client CA, client certificate
// verification.
func listenerTransportSocket(l *policy.Listener) (*corev3.TransportSocket, error) {
	t := l.TLS
	if t == nil {
		return nil, nil
	}
	common := &tlsv3.CommonTlsContext{
		TlsParams: &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsVersion(t.MinVersion)},
		// A client that offers neither gets HTTP/1.1.
		AlpnProtocols: []string{"h2", "http/1.1"},
	}
	for i := range t.Certificates {
		common.TlsCertificateSdsSecretConfigs = append(common.TlsCertificateSdsSecretConfigs, sdsSecret(listenerCertSecret(l.Name, i)))
	}
	if t.ClientCA != "" {
		common.ValidationContextType = &tlsv3.CommonTlsContext_ValidationContextSdsSecretConfig{
			ValidationContextSdsSecretConfig: sdsSecret(listenerClientCASecret(l.Name)),
		}
	}
	return tlsTransportSocket(&tlsv3.DownstreamTlsContext{
		CommonTlsContext:         common,
		RequireClientCertificate: wrapperspb.Bool(t.RequiresClientCert()),
	})
}

func tlsVersion(v string) tlsv3.TlsParameters_TlsProtocol {
	if v == policy.TLS13 {
		return tlsv3.TlsParameters_TLSv1_3
	}
	return tlsv3.TlsParameters_TLSv1_2
}

// listenerSecrets are the SDS secrets a listener's TLS refers to.
func listenerSecrets(l *policy.Listener) []*tlsv3.Secret {
	t := l.TLS
	if t == nil {
		return nil
	}
	var out []*tlsv3.Secret
	for i, c := range t.Certificates {
		out = append(out, certificateSecret(listenerCertSecret(l.Name, i), c.CertPEM, c.KeyPEM.Bytes()))
	}
	if t.ClientCA != "" {
		out = append(out, validationSecret(listenerClientCASecret(l.Name), t.ClientCAPEM))
	}
	return out
}

// forwardClientCert makes a listener that verifies client certificates
// tell services who called: the standard x-forwarded-client-cert header is
// replaced (a client's own is dropped) with the verified subject and
// SANs. Listeners without client_ca drop a client's XFCC too, Envoy's
// default.
func forwardClientCert(hcm *hcmv3.HttpConnectionManager, l *policy.Listener) {
	if l.TLS == nil || l.TLS.ClientCA == "" {
		return
	}
	hcm.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
	hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
		Subject: wrapperspb.Bool(true), Uri: true, Dns: true,
	}
}

// clientCertHeaders set the verified identity of a client certificate in
// x-tollgate-client-cert-* headers, on listeners with client_ca. The
// identity header filter has already removed any value the client sent,
// and Envoy leaves a header out when its value is empty (no certificate).
func clientCertHeaders(l *policy.Listener) []*corev3.HeaderValueOption {
	if l.TLS == nil || l.TLS.ClientCA == "" {
		return nil
	}
	set := func(name, value string) *corev3.HeaderValueOption {
		return &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: name, Value: value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		}
	}
	return []*corev3.HeaderValueOption{
		set(policy.ClientCertSubjectHeader, "%DOWNSTREAM_PEER_SUBJECT%"),
		set(policy.ClientCertURIHeader, "%DOWNSTREAM_PEER_URI_SAN%"),
		set(policy.ClientCertDNSHeader, "%DOWNSTREAM_PEER_DNS_SAN%"),
	}
}

// httpRedirectName names the plain-HTTP listener (and its routes) that
// redirects to a TLS listener. Policy names cannot contain ':'.
func httpRedirectName(l *policy.Listener) string { return l.Name + httpRedirectSuffix }

// httpRedirectSuffix ends the names of a redirect listener and its routes.
const httpRedirectSuffix = ":http-redirect"

// httpRedirect is a plain HTTP listener on the listener's
// redirect_http_from port that answers every request with a permanent
// redirect to https on the TLS listener's port, or nil without one.
func httpRedirect(l *policy.Listener) (*listenerv3.Listener, *routev3.RouteConfiguration, error) {
	if l.TLS == nil || l.TLS.RedirectHTTPFrom == 0 {
		return nil, nil, nil
	}
	name := httpRedirectName(l)
	routes := &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    name,
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Name:  "https-redirect",
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
					SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true},
					PortRedirect:           uint32(l.Port),
					ResponseCode:           routev3.RedirectAction_MOVED_PERMANENTLY,
				}},
			}},
		}},
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: l.Name + "_http_redirect",
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			RouteConfigName: name,
			ConfigSource:    adsSource(),
		}},
	}
	// The load balancer in front forwards this port as it does the TLS
	// one, so the redirect finds the client's address the same way.
	resolveClientAddress(hcm, l.ClientAddress)
	listener, err := hcmListener(name, l.Address, l.TLS.RedirectHTTPFrom, hcm, nil)
	if err != nil {
		return nil, nil, err
	}
	return listener, routes, applyClientAddress(listener, hcm, l.ClientAddress)
}
