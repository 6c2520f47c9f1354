package main

import (
	"io"
	"net"
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
	c, err = parseServe([]string{"--policy", "dir", "--grpc-addr", "0.0.0.0:18000", "--access-log-addr", "tollgate:18000"}, io.Discard)
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
