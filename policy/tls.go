package policy

// This file holds the TLS vocabulary: certificates a listener serves (and
// the client CA it verifies callers against), and how Envoy verifies and
// authenticates itself to an upstream service. File paths are relative to
// the directory of the policy file that names them; keep certificates in a
// subdirectory such as certs/, which Load does not read as policy.
// Validation reads every file, checks that each key matches its
// certificate, and keeps the PEM contents in the model, so that a policy
// version covers the certificates it serves and a changed file is a new
// version.

import "fmt"

// TLS versions a listener may require as its minimum.
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// ListenerTLS terminates TLS at a listener.
type ListenerTLS struct {
	Source `yaml:"-"`

	// Certificates are served by SNI: Envoy picks the certificate whose
	// names match the name the client asked for, and the first one when
	// none does.
	Certificates []*CertificateFiles `yaml:"certificates"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
	// ClientCA turns on client certificate verification (mTLS): a PEM
	// bundle of the CAs that sign callers' certificates.
	ClientCA string `yaml:"client_ca"`
	// RequireClientCert refuses handshakes without a client certificate.
	// Default true when client_ca is set.
	RequireClientCert *bool `yaml:"require_client_cert"`
	// RedirectHTTPFrom is a port on which Envoy answers plain HTTP with a
	// redirect to https on this listener's port.
	RedirectHTTPFrom int `yaml:"redirect_http_from"`

	// ClientCAPEM is the content of ClientCA, read during validation.
	ClientCAPEM []byte `yaml:"-"`
}

// CertificateFiles is a certificate chain and its private key, as PEM files.
type CertificateFiles struct {
	Source `yaml:"-"`

	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`

	// CertPEM and KeyPEM are the files' contents, read during validation.
	CertPEM []byte    `yaml:"-"`
	KeyPEM  SecretPEM `yaml:"-"`
	// Names are the DNS names the certificate is valid for, for display.
	Names []string `yaml:"-"`
}

// UpstreamTLS is TLS from Envoy to a service's endpoints.
type UpstreamTLS struct {
	Source `yaml:"-"`

	// CA is a PEM bundle of the CAs that sign the service's certificate.
	// Required: Tollgate never connects over TLS without verifying.
	CA string `yaml:"ca"`
	// SNI is the server name Envoy asks for.
	SNI string `yaml:"sni"`
	// SAN lists names (DNS names, or URIs such as SPIFFE ids) of which
	// the service's certificate must carry one. Default: the SNI, if set.
	SAN []string `yaml:"san"`
	// ClientCert and ClientKey are Envoy's certificate for mutual TLS.
	ClientCert string `yaml:"client_cert"`
	ClientKey  string `yaml:"client_key"`

	// Contents of the files above, read during validation.
	CAPEM         []byte    `yaml:"-"`
	ClientCertPEM []byte    `yaml:"-"`
	ClientKeyPEM  SecretPEM `yaml:"-"`
}

// RequiresClientCert reports whether the listener refuses callers without a
// verified certificate.
func (t *ListenerTLS) RequiresClientCert() bool {
	return t.ClientCA != "" && (t.RequireClientCert == nil || *t.RequireClientCert)
}

// SecretPEM is private key material. It prints and marshals as a
// placeholder, so that a log line, an error or a debug dump that reaches it
// by accident shows no key; use Bytes for the real content.
type SecretPEM []byte

// Bytes is the key itself.
func (s SecretPEM) Bytes() []byte { return []byte(s) }

func (s SecretPEM) String() string { return "[private key redacted]" }

// GoString keeps %#v from printing the bytes.
func (s SecretPEM) GoString() string { return s.String() }

// Format covers every other verb (%x, %v on containing structs...).
func (s SecretPEM) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// MarshalJSON keeps the key out of JSON output.
func (s SecretPEM) MarshalJSON() ([]byte, error) { return []byte(`"[private key redacted]"`), nil }

// MarshalText keeps the key out of text encodings (YAML, slog).
func (s SecretPEM) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Headers through which the gateway tells a service which verified client
// certificate called, on listeners with client_ca. They start with
// IdentityHeaderPrefix, so a value a client sends is removed before the
// gateway sets the verified one.
const (
	// ClientCertSubjectHeader carries the certificate's subject DN.
	ClientCertSubjectHeader = IdentityHeaderPrefix + "client-cert-subject"
	// ClientCertURIHeader carries its URI SANs, such as a SPIFFE id.
	ClientCertURIHeader = IdentityHeaderPrefix + "client-cert-uri"
	// ClientCertDNSHeader carries its DNS SANs.
	ClientCertDNSHeader = IdentityHeaderPrefix + "client-cert-dns"
)
