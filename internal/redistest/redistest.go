// Package redistest starts real redis-server processes on free loopback
// ports for tests: a single node, or a Cluster of several masters. Every
// process is stopped in t.Cleanup. Without redis-server the test is
// skipped (and always under -short), except under CI=true, where that is
// a failure (internal/testenv).
package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// Server is one running redis-server.
type Server struct {
	Addr string
	port int
	dir  string
	args []string
	t    testing.TB

	// TLSAddr is the TLS port's address, for a server from StartTLS.
	TLSAddr string
	tlsPort int

	mu  sync.Mutex // guards cmd across Stop and Restart
	cmd *exec.Cmd
	out *bytes.Buffer
}

// Binary returns redis-server's path, skipping the test under -short or
// when redis-server is missing, and failing it then under CI
// (testenv.Require).
func Binary(t testing.TB) string {
	t.Helper()
	return testenv.Require(t, "redis-server", "make deps-redis", func() (string, error) {
		return exec.LookPath("redis-server")
	})
}

// Start runs a single redis-server without persistence on a free port.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	return startOn(t, freePort(t), extra...)
}

func startOn(t testing.TB, port int, extra ...string) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: t.TempDir(), t: t}
	s.args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir}, extra...)
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = &bytes.Buffer{}
	s.cmd = exec.Command(bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := ping(s.Addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s did not answer PING:\n%s", s.Addr, s.out)
}

// Stop kills the server (as a crash would) and waits for it to exit.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same port, empty.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(Binary(s.t)); err != nil {
		s.t.Fatal(err)
	}
}

// Cluster is a Redis Cluster of masters, with or without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' addresses, any of which seeds a Cluster client.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// startCluster runs n cluster-enabled nodes and joins them with
// `redis-cli --cluster create`, replicas replicas per master, then waits
// until the cluster is ok (and every replica has synchronised).
func startCluster(t testing.TB, n, replicas int) *Cluster {
	t.Helper()
	cli := testenv.Require(t, "redis-cli", "make deps-redis", func() (string, error) {
		return exec.LookPath("redis-cli")
	})
	c := &Cluster{}
	for range n {
		dir := t.TempDir()
		c.Nodes = append(c.Nodes, startOn(t, clusterPort(t), "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "2000"))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, node := range c.Nodes {
			out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(node.port), "cluster", "info").Output()
			if err != nil || !strings.Contains(string(out), "cluster_state:ok") {
				ok = false
			}
			if replicas > 0 {
				out, err := exec.Command(cli, "-h", "127.0.0.1", "-p", strconv.Itoa(node.port), "info", "replication").Output()
				if err != nil || (strings.Contains(string(out), "role:slave") && !strings.Contains(string(out), "master_link_status:up")) {
					ok = false
				}
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("redis cluster did not reach cluster_state:ok")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StartCluster runs n cluster-enabled nodes and joins them with
// `redis-cli --cluster create`, then waits until the cluster is ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	return startCluster(t, n, 0)
}

// StartClusterWithReplicas runs masters masters with replicas replicas
// each (masters*(1+replicas) nodes; redis-cli makes the first masters
// nodes the masters), and waits until the cluster is ok and every replica
// has synchronised, so that a CLUSTER FAILOVER can run at once.
func StartClusterWithReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	return startCluster(t, masters*(1+replicas), replicas)
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 16)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	// A server with a password answers NOAUTH: it is up all the same.
	if r := string(buf[:n]); !strings.HasPrefix(r, "+PONG") && !strings.HasPrefix(r, "-NOAUTH") {
		return fmt.Errorf("unexpected reply %q", buf[:n])
	}
	return nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// clusterPort finds a free port whose cluster bus port (port+10000) is
// free and valid too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			port -= 20000
		}
		if free(port) && free(port+10000) {
			return port
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

func free(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// StartTLS runs a redis-server that also listens for TLS (on TLSAddr)
// with the given certificate, key and client CA (PEM files), requiring a
// client certificate when clientCert is true. The plain port stays for the
// readiness check; tests of TLS dial TLSAddr. extra are more arguments,
// such as "--requirepass", "pw".
func StartTLS(t testing.TB, certFile, keyFile, caFile string, clientCert bool, extra ...string) *Server {
	t.Helper()
	tlsPort := freePort(t)
	auth := "no"
	if clientCert {
		auth = "yes"
	}
	args := append([]string{"--tls-port", strconv.Itoa(tlsPort), "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--tls-ca-cert-file", caFile, "--tls-auth-clients", auth}, extra...)
	s := Start(t, args...)
	s.TLSAddr, s.tlsPort = fmt.Sprintf("127.0.0.1:%d", tlsPort), tlsPort
	return s
}

// StartSentinel runs a Sentinel monitoring master under the given name.
// conf are more sentinel.conf lines, such as "requirepass PW" (the
// Sentinel's own password) or "sentinel auth-pass NAME PW" (the master's).
// A master from StartTLS is monitored (and announced) on its TLS port.
func StartSentinel(t testing.TB, master *Server, name string, conf ...string) *Server {
	t.Helper()
	bin := Binary(t)
	port := freePort(t)
	dir := t.TempDir()
	confFile := filepath.Join(dir, "sentinel.conf")
	masterPort := master.port
	if master.tlsPort != 0 {
		masterPort = master.tlsPort
	}
	content := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %s 5000\n",
		port, dir, name, masterPort, name)
	for _, line := range conf {
		content += line + "\n"
	}
	if err := os.WriteFile(confFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, dir: dir, t: t, args: []string{confFile, "--sentinel"}}
	if err := s.start(bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
