package xds

import (
	"strconv"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// Certificates, keys and CA bundles reach Envoy as SDS secrets over the ADS
// stream, never inline in listeners or clusters. A secret's name says where
// it is used, not what it holds, so that a replaced certificate file is a
// new version of the same secret: Envoy swaps it for new handshakes while
// the listener, its connections and the cluster stay as they are.

// Secret names, by what uses them. Policy names cannot contain '/', so
// these never collide.
func listenerCertSecret(listener string, i int) string {
	return "listener/" + listener + "/cert/" + strconv.Itoa(i)
}
func listenerClientCASecret(listener string) string { return "listener/" + listener + "/client-ca" }
func serviceCASecret(service string) string         { return "service/" + service + "/ca" }
func serviceClientCertSecret(service string) string { return "service/" + service + "/client-cert" }

// certificateSecret is a certificate chain and its private key.
func certificateSecret(name string, certPEM, keyPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
		CertificateChain: inlineBytes(certPEM),
		PrivateKey:       inlineBytes(keyPEM),
	}}}
}

// validationSecret is a CA bundle to verify peers against.
func validationSecret(name string, caPEM []byte) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: inlineBytes(caPEM),
	}}}
}

// sdsSecret points a TLS context at a secret served over ADS.
func sdsSecret(name string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: adsSource()}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}
