// Package tlsfiles serves mutual TLS from certificate files that are
// replaced while the process runs (by cert-manager, a Kubernetes Secret's
// symlink swap, or an operator), so that a rotation needs no restart.
//
// Every handshake looks at the files' identities (device and inode, which
// a replacement by rename changes even within one second of coarse file
// times), modification times and sizes, and reads them again only when one
// changed: a stat per handshake, no watcher
// to lose events, and connections already open keep the certificate they
// were made with. Files that fail to load (half written, a key that does
// not match) are reported and the last good ones keep serving.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// Files names a server certificate chain, its key and the bundle of CAs a
// client certificate must chain to, all PEM. Without ClientCA no client
// certificate is asked for (the admin server's probes and scrapers).
type Files struct {
	Cert, Key, ClientCA string
}

// Server hands out the TLS configuration for the current files. It is
// safe for concurrent use: handshakes run on many goroutines at once.
type Server struct {
	files Files
	log   *slog.Logger

	// mu guards the cached configuration and the stamps it was read at.
	mu     sync.Mutex
	stamps stamps
	config *tls.Config
}

// stamps identify one version of each file (certificate, key, client CA)
// without reading them; nil for a file not configured.
type stamps [3]os.FileInfo

// equal says whether no file changed between a and b.
func (a stamps) equal(b stamps) bool {
	for i := range a {
		x, y := a[i], b[i]
		if (x == nil) != (y == nil) {
			return false
		}
		if x != nil && !(os.SameFile(x, y) && x.ModTime().Equal(y.ModTime()) && x.Size() == y.Size()) {
			return false
		}
	}
	return true
}

// NewServer loads the files once, so that a wrong path or a bad key stops
// the caller at start-up instead of failing every handshake.
func NewServer(f Files, log *slog.Logger) (*Server, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("a certificate and its key are both required")
	}
	s := &Server{files: f, log: log}
	if _, err := s.current(); err != nil {
		return nil, err
	}
	return s, nil
}

// Config is the tls.Config to serve with: it only defers to the current
// files on each handshake.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.current()
		},
	}
}

// current returns the configuration of the files as they are now,
// reloading them if any changed, or the last good one if the new files do
// not load.
func (s *Server) current() (*tls.Config, error) {
	stamps, err := s.stat()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && s.config != nil && stamps.equal(s.stamps) {
		return s.config, nil
	}
	if err == nil {
		var c *tls.Config
		if c, err = s.files.load(); err == nil {
			if s.config != nil {
				s.log.Info("TLS files reloaded", "cert", s.files.Cert, "client_ca", s.files.ClientCA)
			}
			s.config, s.stamps = c, stamps
			return c, nil
		}
	}
	if s.config == nil {
		return nil, err
	}
	// Remember the stamps so that a bad file is reported once, not on
	// every handshake; the next change is tried again.
	if !stamps.equal(s.stamps) {
		s.log.Error("TLS files changed but do not load; serving the previous ones", "cert", s.files.Cert, "error", err)
		s.stamps = stamps
	}
	return s.config, nil
}

func (s *Server) stat() (stamps, error) {
	var out stamps
	for i, name := range []string{s.files.Cert, s.files.Key, s.files.ClientCA} {
		if name == "" {
			continue
		}
		info, err := os.Stat(name)
		if err != nil {
			return out, err
		}
		out[i] = info
	}
	return out, nil
}

// load reads the files into a configuration that requires a client
// certificate chaining to the client CA bundle, if there is one. gRPC
// needs ALPN "h2"; HTTP clients of the admin server may want HTTP/1.1.
func (f Files) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if f.ClientCA == "" {
		return c, nil
	}
	pem, err := os.ReadFile(f.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client CA bundle %s: no PEM certificate in it", f.ClientCA)
	}
	c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
	return c, nil
}
