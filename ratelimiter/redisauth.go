package ratelimiter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// A Redis password comes from an environment variable or a file, never
// from the policy (policy.RedisStore.Password refuses it). The file is
// read for every new connection, so a Secret rotated in place (Kubernetes
// swaps the mounted file) is used by the next connection without a
// restart. Neither the password nor its file's content is ever logged:
// errors name the variable or the file, not what they hold.

// PasswordSource is where one password comes from: an environment
// variable or a file (absolute, or relative to the working directory).
// Comparable, so that it can sit in a StoreConfig.
type PasswordSource struct {
	Env  string
	File string
}

func (s PasswordSource) set() bool { return s.Env != "" || s.File != "" }

// read returns the password. An unset or empty variable, or an unreadable
// or empty file, is an error: connecting without the password would only
// fail later with a less useful NOAUTH.
func (s PasswordSource) read() (string, error) {
	switch {
	case s.Env != "":
		v := os.Getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("redis password: environment variable %s is unset or empty", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("redis password: cannot read %s: %w", s.File, unwrapPath(err))
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("redis password: %s is empty", s.File)
		}
		return v, nil
	}
	return "", nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// credentials is go-redis's per-connection credentials callback for one
// user and password source.
func credentials(username string, src PasswordSource) func(context.Context) (string, string, error) {
	return func(context.Context) (string, string, error) {
		p, err := src.read()
		return username, p, err
	}
}

// TLSFiles are the files of TLS to Redis; comparable.
type TLSFiles struct {
	Enabled    bool
	CA         string // empty: the system's roots
	Cert, Key  string // client certificate, optional
	ServerName string // empty: the dialed host
}

// tlsConfig builds the client configuration. The CA is read now (a bad
// bundle is an error when the store opens); the client certificate is read
// at every handshake, so a renewed certificate needs no restart.
func (f TLSFiles) tlsConfig() (*tls.Config, error) {
	if !f.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("redis tls ca: cannot read %s: %w", f.CA, unwrapPath(err))
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis tls ca: %s holds no PEM certificate", f.CA)
		}
	}
	if f.Cert != "" {
		if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
			return nil, fmt.Errorf("redis tls client certificate %s: %w", f.Cert, err)
		}
		cert, key := f.Cert, f.Key
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("redis tls client certificate %s: %w", cert, err)
			}
			return &pair, nil
		}
	}
	return c, nil
}

// tlsDialer wraps dialRedis with a TLS handshake, bounded by the dial's
// context. A failed handshake is a failedConn too, for dialRedis's reason.
// Without a configured server name, each connection verifies the host it
// dialed (every Cluster node or Sentinel-announced master by its own).
func tlsDialer(conf *tls.Config) func(context.Context, string, string) (net.Conn, error) {
	if conf == nil {
		return dialRedis
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, _ := dialRedis(ctx, network, addr)
		if fc, ok := raw.(failedConn); ok {
			return fc, nil
		}
		c := conf
		if c.ServerName == "" {
			c = conf.Clone()
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		conn := tls.Client(raw, c)
		if err := conn.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return failedConn{err: fmt.Errorf("tls handshake with %s: %w", addr, err), addr: dialAddr{network, addr}}, nil
		}
		return conn, nil
	}
}
