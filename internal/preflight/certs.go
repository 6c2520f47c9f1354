package preflight

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// pemFile is one PEM file of the policy and where it is named.
type pemFile struct {
	at   policy.Pos
	what string
	data []byte
}

// checkCertificates fails every certificate (served chains, CA bundles,
// client certificates to services) that expires within CertDays: Envoy
// keeps serving an expired certificate, and clients then refuse it.
func checkCertificates(p *policy.Policy, o StaticOptions) Result {
	const id, title = "certificates", "no certificate expiring soon"
	files := policyPEMs(p)
	if len(files) == 0 {
		return notApplicable(id, title, "no TLS files")
	}
	now := time.Now()
	limit := now.Add(time.Duration(o.CertDays) * 24 * time.Hour)
	var f findings
	n := 0
	for _, pf := range files {
		for _, c := range parseCerts(pf.data) {
			n++
			if c.NotAfter.Before(limit) {
				f.add(pf.at, "%s: certificate %q expires %s (%s), within %d days; renew it",
					pf.what, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), expiresIn(now, c.NotAfter), o.CertDays)
			}
		}
	}
	return f.result(id, title, fmt.Sprintf("%d certificates checked against %d days", n, o.CertDays))
}

func expiresIn(now, t time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return "expired"
	}
	return fmt.Sprintf("in %d days", int(d.Hours()/24))
}

func policyPEMs(p *policy.Policy) []pemFile {
	var out []pemFile
	for _, l := range p.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, c := range l.TLS.Certificates {
			out = append(out, pemFile{c.At("cert"), "listener " + l.Name + " cert " + c.Cert, c.CertPEM})
		}
		if l.TLS.ClientCA != "" {
			out = append(out, pemFile{l.TLS.At("client_ca"), "listener " + l.Name + " client_ca " + l.TLS.ClientCA, l.TLS.ClientCAPEM})
		}
	}
	for _, name := range sortedNames(p.Services) {
		t := p.Services[name].TLS
		if t == nil {
			continue
		}
		out = append(out, pemFile{t.At("ca"), "service " + name + " ca " + t.CA, t.CAPEM})
		if t.ClientCert != "" {
			out = append(out, pemFile{t.At("client_cert"), "service " + name + " client_cert " + t.ClientCert, t.ClientCertPEM})
		}
	}
	return out
}

func parseCerts(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}
