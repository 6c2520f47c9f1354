package policy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strings"
)

// tls checks the TLS settings of listeners and services, reading every
// certificate, key and CA file they name. A missing or unreadable file, a
// file with no PEM certificate, or a key that does not match its
// certificate is an error at the field that names the file, so a bad
// certificate change is rejected like any bad edit and the last good
// certificates keep serving.
func (v *validator) tls() {
	ports := map[int]string{}
	for _, l := range v.p.Listeners {
		ports[l.Port] = l.Name
	}
	for i, l := range v.p.Listeners {
		path := listPath("listeners", i, l.Name)
		v.listenerTLS(l, ports, path+".tls")
	}
	for _, name := range v.p.ServiceNames() {
		v.upstreamTLS(v.p.Services[name], mapPath("services", name)+".tls")
	}
}

func (v *validator) listenerTLS(l *Listener, ports map[int]string, path string) {
	t := l.TLS
	if t == nil {
		return
	}
	if len(t.Certificates) == 0 {
		v.errorf(t.Pos(), path+".certificates", "TLS needs at least one certificate: certificates: [{ cert: certs/server.pem, key: certs/server-key.pem }]")
	}
	for j, c := range t.Certificates {
		v.certificateFiles(c, fmt.Sprintf("%s.certificates[%d]", path, j), "cert", "key")
	}
	if t.Has("min_version") && t.MinVersion != TLS12 && t.MinVersion != TLS13 {
		v.errorf(t.At("min_version"), path+".min_version", "unknown TLS version %q; expected \"1.2\" or \"1.3\"", t.MinVersion)
	}
	if t.Has("client_ca") {
		t.ClientCAPEM = v.caBundle(t.Source, "client_ca", t.ClientCA, path)
	} else if t.Has("require_client_cert") {
		v.errorf(t.At("require_client_cert"), path+".require_client_cert", "require_client_cert needs client_ca, the CAs client certificates are verified against")
	}
	if t.Has("redirect_http_from") {
		v.redirectPort(l, ports, path)
	}
}

func (v *validator) redirectPort(l *Listener, ports map[int]string, path string) {
	port := l.TLS.RedirectHTTPFrom
	switch other, taken := ports[port]; {
	case port < 1 || port > 65535:
		v.errorf(l.TLS.At("redirect_http_from"), path+".redirect_http_from", "port must be between 1 and 65535, got %d", port)
	case taken:
		v.errorf(l.TLS.At("redirect_http_from"), path+".redirect_http_from", "port %d is already listener %q's port", port, other)
	default:
		ports[port] = l.Name
	}
}

// certificateFiles reads and checks a certificate and its key, written in
// the fields named certField and keyField.
func (v *validator) certificateFiles(c *CertificateFiles, path, certField, keyField string) {
	if c.Cert == "" || c.Key == "" {
		v.errorf(c.Pos(), path, "set both %s and %s (PEM files)", certField, keyField)
		return
	}
	certPEM, ok1 := v.readFile(c.Source, certField, c.Cert, path)
	keyPEM, ok2 := v.readFile(c.Source, keyField, c.Key, path)
	if !ok1 || !ok2 {
		return
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		v.errorf(c.At(keyField), path+"."+keyField, "key %s does not go with certificate %s: %s", c.Key, c.Cert, keyPairProblem(err))
		return
	}
	c.CertPEM, c.KeyPEM = certPEM, SecretPEM(keyPEM)
	if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err == nil {
		c.Names = leaf.DNSNames
	}
}

// keyPairProblem words a crypto/tls key pair error for a policy author. The
// errors name no key material, only what is wrong.
func keyPairProblem(err error) string {
	msg := strings.TrimPrefix(err.Error(), "tls: ")
	if strings.Contains(msg, "does not match") {
		return "the private key does not match the certificate's public key"
	}
	return msg
}

func (v *validator) upstreamTLS(s *Service, path string) {
	t := s.TLS
	if t == nil {
		return
	}
	if !t.Has("ca") {
		v.errorf(t.Pos(), path+".ca", "upstream TLS needs ca, the CAs that sign the service's certificate (Tollgate never skips verification)")
	} else {
		t.CAPEM = v.caBundle(t.Source, "ca", t.CA, path)
	}
	if t.Has("sni") {
		v.host(t.SNI, t.At("sni"), path+".sni")
	}
	for _, san := range t.SAN {
		if san == "" {
			v.errorf(t.At("san"), path+".san", "a SAN cannot be empty")
		}
	}
	v.clientCertificate(t, path)
}

func (v *validator) clientCertificate(t *UpstreamTLS, path string) {
	if t.Has("client_cert") != t.Has("client_key") {
		v.errorf(t.Pos(), path, "mutual TLS needs both client_cert and client_key")
		return
	}
	if !t.Has("client_cert") {
		return
	}
	c := &CertificateFiles{Source: t.Source, Cert: t.ClientCert, Key: t.ClientKey}
	v.certificateFiles(c, path, "client_cert", "client_key")
	t.ClientCertPEM, t.ClientKeyPEM = c.CertPEM, c.KeyPEM
}

// caBundle reads a PEM file that must hold at least one CA certificate.
func (v *validator) caBundle(s Source, field, file, path string) []byte {
	data, ok := v.readFile(s, field, file, path)
	if !ok {
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		v.errorf(s.At(field), path+"."+field, "%s holds no PEM certificate", file)
		return nil
	}
	return data
}

// readFile reads a file named by a policy field, relative to the directory
// of the policy file that names it. A file without any PEM block is an
// error: it is the wrong file.
func (v *validator) readFile(s Source, field, file, path string) ([]byte, bool) {
	full := resolvePath(s.At(field), file)
	data, err := v.p.reads.readFile(full)
	if err != nil {
		v.errorf(s.At(field), path+"."+field, "cannot read %s: %s", file, pathErrorReason(err))
		return nil, false
	}
	if block, _ := pem.Decode(data); block == nil {
		v.errorf(s.At(field), path+"."+field, "%s is not a PEM file", file)
		return nil, false
	}
	return data, true
}

// resolvePath makes a path relative to the policy file it is written in.
func resolvePath(at Pos, file string) string {
	if filepath.IsAbs(file) || at.File == "" {
		return file
	}
	return filepath.Join(filepath.Dir(at.File), file)
}

func pathErrorReason(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// hashTLSFiles adds the content of every certificate, key and CA file to a
// policy's version, so that replacing a certificate file makes a new
// version that the reloader applies and Envoy receives as a new secret.
func hashTLSFiles(p *Policy, h hash.Hash) {
	write := func(b []byte) { fmt.Fprintf(h, "%d\x00", len(b)); h.Write(b) }
	for _, l := range p.Listeners {
		if l.TLS == nil {
			continue
		}
		for _, c := range l.TLS.Certificates {
			write(c.CertPEM)
			write(c.KeyPEM.Bytes())
		}
		write(l.TLS.ClientCAPEM)
	}
	for _, name := range p.ServiceNames() {
		if t := p.Services[name].TLS; t != nil {
			write(t.CAPEM)
			write(t.ClientCertPEM)
			write(t.ClientKeyPEM.Bytes())
		}
	}
}

// TLSDirs are the directories holding the TLS files a policy names, so
// that a watcher can notice a certificate replaced in place.
func (p *Policy) TLSDirs() []string {
	seen := map[string]bool{}
	add := func(s Source, field, file string) {
		if file != "" {
			seen[filepath.Dir(resolvePath(s.At(field), file))] = true
		}
	}
	for _, l := range p.Listeners {
		if t := l.TLS; t != nil {
			for _, c := range t.Certificates {
				add(c.Source, "cert", c.Cert)
				add(c.Source, "key", c.Key)
			}
			add(t.Source, "client_ca", t.ClientCA)
		}
	}
	for _, s := range p.Services {
		if t := s.TLS; t != nil {
			add(t.Source, "ca", t.CA)
			add(t.Source, "client_cert", t.ClientCert)
			add(t.Source, "client_key", t.ClientKey)
		}
	}
	return sortedKeys(seen)
}
