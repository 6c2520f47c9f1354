package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"os"
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

// TestKubernetesSecretSwapIsSeen simulates how the kubelet updates a
// mounted Secret: each file is a symlink through "..data", itself a
// symlink to a timestamped directory that an update replaces atomically.
// The files' own paths never change; the stat through the links does.
func TestKubernetesSecretSwapIsSeen(t *testing.T) {
	p := newPKI(t)
	mount := t.TempDir()
	version := func(name string, leaf *testcerts.Leaf) {
		dir := filepath.Join(mount, name)
		if err := leaf.Write(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")); err != nil {
			t.Fatal(err)
		}
		if err := testcerts.WriteFile(filepath.Join(dir, "ca.crt"), p.ca.CertPEM); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(mount, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(mount, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	first, err := p.ca.Issue(testcerts.Options{CommonName: "tollgate", DNSNames: []string{"tollgate"}})
	if err != nil {
		t.Fatal(err)
	}
	version("..2026_01_01", first)
	files := Files{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"tls.crt", &files.Cert}, {"tls.key", &files.Key}, {"ca.crt", &files.ClientCA}} {
		*f.dst = filepath.Join(mount, f.name)
		if err := os.Symlink(filepath.Join("..data", f.name), *f.dst); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewServer(files, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	if got, err := p.handshake(addr, p.client); err != nil || got != first.Cert.SerialNumber.String() {
		t.Fatalf("first handshake: serial %s, %v", got, err)
	}
	second, err := p.ca.Issue(testcerts.Options{CommonName: "tollgate", DNSNames: []string{"tollgate"}})
	if err != nil {
		t.Fatal(err)
	}
	version("..2026_02_01", second)
	if got, err := p.handshake(addr, p.client); err != nil || got != second.Cert.SerialNumber.String() {
		t.Errorf("after the ..data swap: serial %s, %v; want the new %s", got, err, second.Cert.SerialNumber)
	}
}

// TestReplacementWithinOneFileTimeTickIsSeen: a file system with coarse
// modification times (one second, or two) can give a replacement the
// same time and, for certificates of one key type, the same size; the
// file's identity (a rename makes a new inode) still tells them apart.
func TestReplacementWithinOneFileTimeTickIsSeen(t *testing.T) {
	p := newPKI(t)
	pemFiles := []string{p.files.Cert, p.files.Key}
	for _, f := range pemFiles {
		padPEM(t, f)
	}
	s, err := NewServer(p.files, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	if _, err := p.handshake(addr, p.client); err != nil {
		t.Fatal(err)
	}
	var old []os.FileInfo
	for _, f := range pemFiles {
		info, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, info)
	}
	rotated := p.issueServer(t)
	for i, f := range pemFiles {
		padPEM(t, f)
		if err := os.Chtimes(f, old[i].ModTime(), old[i].ModTime()); err != nil {
			t.Fatal(err)
		}
		if now, _ := os.Stat(f); now.Size() != old[i].Size() || !now.ModTime().Equal(old[i].ModTime()) {
			t.Fatalf("%s: the replacement differs in size or time: the test shows nothing", f)
		}
	}
	if got, err := p.handshake(addr, p.client); err != nil || got != rotated.Cert.SerialNumber.String() {
		t.Errorf("after a same-size, same-time replacement: serial %s, %v; want the new %s", got, err, rotated.Cert.SerialNumber)
	}
}

// padPEM replaces a PEM file by its content padded with newlines (which
// PEM ignores) to 4096 bytes, so that two certificates or keys have one
// size.
func padPEM(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil || len(b) > 4096 {
		t.Fatalf("%s: %d bytes, %v", file, len(b), err)
	}
	if err := testcerts.WriteFile(file, append(b, bytes.Repeat([]byte("\n"), 4096-len(b))...)); err != nil {
		t.Fatal(err)
	}
}
