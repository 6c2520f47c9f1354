package tlsfiles

import (
	"crypto/tls"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testcerts"
)

// pki is a CA with a server certificate and a client certificate, written
// where a Server reads them.
type pki struct {
	ca     *testcerts.CA
	client *testcerts.Leaf
	files  Files
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca, err := testcerts.NewCA("tollgate test CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := &pki{ca: ca, files: Files{
		Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), ClientCA: filepath.Join(dir, "ca.crt"),
	}}
	p.issueServer(t)
	if err := testcerts.WriteFile(p.files.ClientCA, ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	if p.client, err = ca.Issue(testcerts.Options{CommonName: "envoy", Client: true}); err != nil {
		t.Fatal(err)
	}
	return p
}

// issueServer writes a new server certificate and returns its leaf.
func (p *pki) issueServer(t *testing.T) *testcerts.Leaf {
	t.Helper()
	leaf, err := p.ca.Issue(testcerts.Options{CommonName: "tollgate", DNSNames: []string{"tollgate"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(p.files.Cert, p.files.Key); err != nil {
		t.Fatal(err)
	}
	return leaf
}

// serve accepts TLS connections with s until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", s.Config())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				// A byte after the handshake tells the client it passed.
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte{1})
				}
				c.Close()
			}()
		}
	}()
	return lis.Addr().String()
}

// handshake connects with the client certificate (none if nil) and
// returns the serial number of the server's certificate.
func (p *pki) handshake(addr string, client *testcerts.Leaf) (string, error) {
	cfg := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "tollgate", NextProtos: []string{"h2"}}
	if client != nil {
		cfg.Certificates = []tls.Certificate{client.TLS}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// TLS 1.3 reports a refused client certificate on the first read;
	// an accepted one reads the server's byte.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestRotatedServerCertificateIsServedToNewHandshakes(t *testing.T) {
	p := newPKI(t)
	s, err := NewServer(p.files, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	first, err := p.handshake(addr, p.client)
	if err != nil {
		t.Fatal(err)
	}
	rotated := p.issueServer(t)
	got, err := p.handshake(addr, p.client)
	if err != nil {
		t.Fatal(err)
	}
	if want := rotated.Cert.SerialNumber.String(); got != want || got == first {
		t.Errorf("after rotation the server presented serial %s, want the new %s (first was %s)", got, want, first)
	}

	// A half-replaced pair (a key that does not match) keeps the last
	// good certificate serving.
	other, _ := p.ca.Issue(testcerts.Options{CommonName: "other"})
	if err := testcerts.WriteFile(p.files.Key, other.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if got, err = p.handshake(addr, p.client); err != nil || got != rotated.Cert.SerialNumber.String() {
		t.Errorf("with a mismatched key: serial %s, error %v; want the last good %s", got, err, rotated.Cert.SerialNumber)
	}
}

func TestClientWithoutTrustedCertificateIsRefused(t *testing.T) {
	p := newPKI(t)
	s, err := NewServer(p.files, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	if _, err := p.handshake(addr, nil); err == nil {
		t.Error("a client without a certificate completed a handshake")
	}
	stranger, _ := testcerts.NewCA("stranger")
	leaf, _ := stranger.Issue(testcerts.Options{CommonName: "envoy", Client: true})
	if _, err := p.handshake(addr, leaf); err == nil {
		t.Error("a client certificate from another CA was accepted")
	}
}

func TestNewServerRefusesMissingFiles(t *testing.T) {
	p := newPKI(t)
	f := p.files
	f.Key = filepath.Join(t.TempDir(), "missing.key")
	if _, err := NewServer(f, slog.Default()); err == nil {
		t.Error("a missing key file was accepted")
	}
	if _, err := NewServer(Files{Cert: p.files.Cert}, slog.Default()); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}

// TestWithoutClientCANoClientCertificateIsAsked is the admin server's
// case: clients (probes, scrapers) present no certificate.
func TestWithoutClientCANoClientCertificateIsAsked(t *testing.T) {
	p := newPKI(t)
	s, err := NewServer(Files{Cert: p.files.Cert, Key: p.files.Key}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.handshake(serve(t, s), nil); err != nil {
		t.Errorf("a client without a certificate: %v", err)
	}
}
