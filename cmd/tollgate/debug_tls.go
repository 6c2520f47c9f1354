package main

import "github.com/tollgate/tollgate/policy"

// tlsRow is what /debug/config shows of TLS settings: file names and
// certificate names, never file contents (a key must not leave the
// process except to Envoy over SDS).
type tlsRow struct {
	Certificates []certRow `json:"certificates,omitempty"`
	MinVersion   string    `json:"min_version,omitempty"`
	ClientCA     string    `json:"client_ca,omitempty"`
	CA           string    `json:"ca,omitempty"`
	SNI          string    `json:"sni,omitempty"`
	ClientCert   string    `json:"client_cert,omitempty"`
}

type certRow struct {
	Cert  string   `json:"cert"`
	Names []string `json:"names,omitempty"`
}

func listenerTLSRow(t *policy.ListenerTLS) *tlsRow {
	if t == nil {
		return nil
	}
	row := &tlsRow{MinVersion: t.MinVersion, ClientCA: t.ClientCA}
	for _, c := range t.Certificates {
		row.Certificates = append(row.Certificates, certRow{Cert: c.Cert, Names: c.Names})
	}
	return row
}

func upstreamTLSRow(t *policy.UpstreamTLS) *tlsRow {
	if t == nil {
		return nil
	}
	return &tlsRow{CA: t.CA, SNI: t.SNI, ClientCert: t.ClientCert}
}
