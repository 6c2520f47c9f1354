package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

func TestServeDefaultsAreLoopbackAndAccessLogFollowsGRPC(t *testing.T) {
	c, err := parseServe([]string{"--policy", "dir"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"admin": c.adminAddr, "grpc": c.grpcAddr} {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			t.Errorf("default %s address %q is not loopback", name, addr)
		}
	}
	if c.accessLogOutput != "-" {
		t.Errorf("default access-log output %q, want - (stdout)", c.accessLogOutput)
	}
	if got := xdsOptions(c).AccessLogAddress; got != c.grpcAddr {
		t.Errorf("access-log address defaults to %q, want the gRPC address %q", got, c.grpcAddr)
	}
	c, err = parseServe([]string{"--policy", "dir", "--grpc-addr", "0.0.0.0:18000", "--insecure-grpc", "--access-log-addr", "tollgate:18000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := xdsOptions(c).AccessLogAddress; got != "tollgate:18000" {
		t.Errorf("access-log address = %q, want the flag's", got)
	}
	if _, err := parseServe([]string{"--policy", "dir", "--only", "accesslog"}, io.Discard); err != nil {
		t.Errorf("--only accesslog: %v", err)
	}
}

func TestStateDirDefaultsToTheUsersStateDirectoryAndEmptyDisablesIt(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "")
	t.Setenv("XDG_STATE_HOME", "/home/u/.state")
	c, err := parseServe([]string{"--policy", "dir"}, io.Discard)
	if err != nil || c.stateDir != "/home/u/.state/tollgate" {
		t.Errorf("default state dir %q (%v), want $XDG_STATE_HOME/tollgate", c.stateDir, err)
	}
	t.Setenv("STATE_DIRECTORY", "/var/lib/tollgate:/var/lib/other")
	if c, _ := parseServe([]string{"--policy", "dir"}, io.Discard); c.stateDir != "/var/lib/tollgate" {
		t.Errorf("under systemd's StateDirectory= the state dir is %q, want /var/lib/tollgate", c.stateDir)
	}
	if c, _ := parseServe([]string{"--policy", "dir", "--state-dir", ""}, io.Discard); c.stateDir != "" {
		t.Errorf("--state-dir '' gave %q, want none", c.stateDir)
	}
}

func TestPlaintextGRPCOnlyOnLoopbackUnlessInsecure(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:18000", ":18000", "[::]:18000", "10.0.0.4:18000", "tollgate:18000"} {
		_, err := parseServe([]string{"--policy", "dir", "--grpc-addr", addr}, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "not a loopback address") || strings.Contains(err.Error(), "\n") {
			t.Errorf("plaintext --grpc-addr %s: error %v, want a one-line usage error saying it is not loopback", addr, err)
		}
		if _, err := parseServe([]string{"--policy", "dir", "--grpc-addr", addr, "--insecure-grpc"}, io.Discard); err != nil {
			t.Errorf("--grpc-addr %s --insecure-grpc: %v", addr, err)
		}
		tls := []string{"--grpc-tls-cert", "c.pem", "--grpc-tls-key", "k.pem", "--grpc-client-ca", "ca.pem"}
		if _, err := parseServe(append([]string{"--policy", "dir", "--grpc-addr", addr}, tls...), io.Discard); err != nil {
			t.Errorf("--grpc-addr %s with TLS: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:18000", "127.1.2.3:18000", "[::1]:18000", "localhost:18000"} {
		if _, err := parseServe([]string{"--policy", "dir", "--grpc-addr", addr}, io.Discard); err != nil {
			t.Errorf("plaintext on loopback %s: %v", addr, err)
		}
	}
	_, err := parseServe([]string{"--policy", "dir", "--grpc-tls-cert", "c.pem", "--grpc-tls-key", "k.pem"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--grpc-client-ca") {
		t.Errorf("TLS without a client CA: %v, want an error naming --grpc-client-ca", err)
	}
}

func TestAdminTLSFlagsGoTogether(t *testing.T) {
	if _, err := parseServe([]string{"--policy", "dir", "--admin-tls-cert", "c.pem"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--admin-tls-key") {
		t.Errorf("--admin-tls-cert alone: %v, want an error naming --admin-tls-key", err)
	}
	if _, err := parseServe([]string{"--policy", "dir", "--admin-tls-cert", "c.pem", "--admin-tls-key", "k.pem"}, io.Discard); err != nil {
		t.Errorf("admin TLS: %v", err)
	}
}

// --poll and --key-usage-flush drive tickers, which panic on a zero or
// negative interval: such a value is a usage error, not a crash.
func TestIntervalFlagsMustBePositive(t *testing.T) {
	for _, flag := range []string{"--poll", "--key-usage-flush"} {
		for _, v := range []string{"0s", "-1s"} {
			_, err := parseServe([]string{"--policy", "dir", flag, v}, io.Discard)
			var usage usageError
			if !errors.As(err, &usage) || !strings.Contains(err.Error(), strings.TrimLeft(flag, "-")) {
				t.Errorf("%s %s: %v, want a usage error naming %s", flag, v, err, flag)
			}
		}
	}
}
