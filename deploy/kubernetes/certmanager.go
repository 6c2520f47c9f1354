package kubernetes

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// cert-manager's types are not in k8s.io/api, and its module would bring
// much of cert-manager into go.mod for two kinds. These mirror
// cert-manager.io/v1 for the fields the overlay uses (names and JSON keys
// as in cert-manager's API reference), so that the strict decoding still
// refuses a misspelt or misplaced field; a field cert-manager has and the
// overlay does not use is missing here on purpose, and adding it to the
// overlay means adding it here.

// Issuer mirrors cert-manager.io/v1 Issuer.
type Issuer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              IssuerSpec `json:"spec"`
}

// IssuerSpec mirrors the self-signed and CA issuer kinds.
type IssuerSpec struct {
	SelfSigned *struct{} `json:"selfSigned,omitempty"`
	CA         *struct {
		SecretName string `json:"secretName"`
	} `json:"ca,omitempty"`
}

// Certificate mirrors cert-manager.io/v1 Certificate.
type Certificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              CertificateSpec `json:"spec"`
}

// CertificateSpec mirrors the Certificate fields the overlay sets.
type CertificateSpec struct {
	SecretName  string           `json:"secretName"`
	IsCA        bool             `json:"isCA,omitempty"`
	CommonName  string           `json:"commonName,omitempty"`
	DNSNames    []string         `json:"dnsNames,omitempty"`
	Duration    *metav1.Duration `json:"duration,omitempty"`
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
	Usages      []string         `json:"usages,omitempty"`
	PrivateKey  *struct {
		Algorithm      string `json:"algorithm,omitempty"`
		Size           int    `json:"size,omitempty"`
		RotationPolicy string `json:"rotationPolicy,omitempty"`
	} `json:"privateKey,omitempty"`
	IssuerRef struct {
		Name  string `json:"name"`
		Kind  string `json:"kind,omitempty"`
		Group string `json:"group,omitempty"`
	} `json:"issuerRef"`
}
