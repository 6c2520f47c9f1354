package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tollgate/tollgate/internal/tlsfiles"
)

// grpcTLSFlags secure the gRPC port, which carries listener private keys
// (SDS) and every authorization and rate-limit decision: mutual TLS from
// files, or plaintext where only this machine can connect.
type grpcTLSFlags struct {
	files tlsfiles.Files
	// insecure allows plaintext on an address other machines reach.
	insecure bool
}

func (f *grpcTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.files.Cert, "grpc-tls-cert", "", "PEM certificate chain the gRPC server presents; with --grpc-tls-key and --grpc-client-ca it serves mutual TLS, rereading the files when they change")
	fs.StringVar(&f.files.Key, "grpc-tls-key", "", "PEM private key of --grpc-tls-cert")
	fs.StringVar(&f.files.ClientCA, "grpc-client-ca", "", "PEM bundle of the CAs an Envoy's client certificate must chain to")
	fs.BoolVar(&f.insecure, "insecure-grpc", false, "serve plaintext gRPC on a non-loopback --grpc-addr (anyone who reaches it gets private keys and decisions)")
}

// enabled says whether the gRPC server serves TLS.
func (f *grpcTLSFlags) enabled() bool {
	return f.files.Cert != "" || f.files.Key != "" || f.files.ClientCA != ""
}

// check refuses half a TLS configuration, and plaintext on an address
// reachable from other machines unless --insecure-grpc says so.
func (f *grpcTLSFlags) check(grpcAddr string) error {
	if f.enabled() {
		if f.files.Cert == "" || f.files.Key == "" || f.files.ClientCA == "" {
			return fmt.Errorf("--grpc-tls-cert, --grpc-tls-key and --grpc-client-ca go together: Envoys must present a client certificate")
		}
		return nil
	}
	if f.insecure || isLoopback(grpcAddr) {
		return nil
	}
	return fmt.Errorf("--grpc-addr %s is not a loopback address: serve mutual TLS (--grpc-tls-cert, --grpc-tls-key, --grpc-client-ca) or pass --insecure-grpc to allow plaintext", grpcAddr)
}

// isLoopback says whether addr can only be reached from this machine:
// "localhost" or an address in 127.0.0.0/8 or ::1. An empty or wildcard
// host listens on every interface; any other name may resolve anywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// serverOptions are the gRPC server options for the flags: TLS
// credentials reloaded from the files, or none. Refused handshakes are
// counted in failures and logged.
func (f *grpcTLSFlags) serverOptions(log *slog.Logger, failures prometheus.Counter) ([]grpc.ServerOption, error) {
	if !f.enabled() {
		return nil, nil
	}
	s, err := tlsfiles.NewServer(f.files, log)
	if err != nil {
		return nil, fmt.Errorf("gRPC TLS: %w", err)
	}
	creds := countingCreds{credentials.NewTLS(s.Config()), failures, log}
	return []grpc.ServerOption{grpc.Creds(creds)}, nil
}

// newHandshakeFailures registers the count of refused handshakes on the
// gRPC port (always, so that an alert on it never lacks its series).
func newHandshakeFailures(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tollgate_grpc_tls_handshake_failures_total",
		Help: "TLS handshakes refused on the gRPC port: a client without a trusted certificate, or not speaking TLS.",
	})
	reg.MustRegister(c)
	return c
}

// countingCreds makes refused handshakes visible: gRPC logs them only as
// warnings, which Tollgate keeps at debug level (liblogs.go), and an
// Envoy whose certificate expired would otherwise just get nothing.
type countingCreds struct {
	credentials.TransportCredentials
	failures prometheus.Counter
	log      *slog.Logger
}

func (c countingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.failures.Inc()
		c.log.Warn("gRPC TLS handshake refused", "remote", conn.RemoteAddr().String(), "error", err)
	}
	return out, info, err
}

func (c countingCreds) Clone() credentials.TransportCredentials {
	return countingCreds{c.TransportCredentials.Clone(), c.failures, c.log}
}

// adminTLSFlags serve the admin port over TLS (no client certificate:
// kubelet probes and Prometheus connect to it), reloaded like gRPC's.
type adminTLSFlags struct{ files tlsfiles.Files }

func (f *adminTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.files.Cert, "admin-tls-cert", "", "PEM certificate chain the admin server presents; with --admin-tls-key it serves HTTPS, rereading the files when they change")
	fs.StringVar(&f.files.Key, "admin-tls-key", "", "PEM private key of --admin-tls-cert")
}

func (f *adminTLSFlags) check() error {
	if (f.files.Cert == "") != (f.files.Key == "") {
		return errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	return nil
}

// wrapper returns what wraps the admin listener: TLS when the flags ask
// for it. The files load here, before anything listens.
func (f *adminTLSFlags) wrapper(log *slog.Logger) (func(net.Listener) net.Listener, error) {
	if f.files.Cert == "" {
		return func(lis net.Listener) net.Listener { return lis }, nil
	}
	s, err := tlsfiles.NewServer(f.files, log)
	if err != nil {
		return nil, fmt.Errorf("admin TLS: %w", err)
	}
	return func(lis net.Listener) net.Listener { return tls.NewListener(lis, s.Config()) }, nil
}
