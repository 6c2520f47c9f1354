package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/redistest"
	"github.com/tollgate/tollgate/internal/testcerts"
)

// With a maximum connection age, Tollgate closes Envoy's gRPC connections
// now and then, so that ADS streams spread over the replicas of a rollout:
// the Envoy reconnects (three "proxy connected" at least), requests that
// need ext_authz keep succeeding across the reconnects, and no reconnect
// re-sends configuration.
func TestADSStreamsReconnectAfterTheMaxConnectionAge(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner", Scopes: []string{"orders:read"}}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "UPSTREAM_BILLING", upstream(t, "billing", 1, nil)[0]).Replace(keysPolicy)
	g := startAuthGateway(t, policy, "", "", kf, "/health",
		"--grpc-max-connection-age", "1s", "--grpc-max-connection-age-grace", "500ms")
	headers := map[string]string{"X-API-Key": key}
	connects := func() int { return strings.Count(g.tollgate.log.String(), `msg="proxy connected"`) }
	sent, failed := 0, 0
	var firstFailure string
	// Bounded: 3 connects need about 3 s of requests; give up after 2000.
	for connects() < 3 && sent < 2000 {
		status, body, err := httpGet(g.base+"/orders", headers)
		sent++
		if status != 200 {
			failed++
			if firstFailure == "" {
				firstFailure = fmt.Sprintf("status %d, %v: %s", status, err, body)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := connects(); n < 3 {
		t.Fatalf("the Envoy connected %d times in %d requests, want 3 at least (a reconnect after each max age)", n, sent)
	}
	if failed > 0 {
		t.Errorf("%d of %d requests across the reconnects failed; the first: %s", failed, sent, firstFailure)
	}
	// Each reconnect resumes with the versions the Envoy has: nothing is
	// sent again (see TestReplicasServeTheSameVersions).
	for _, name := range []string{"listener_manager.lds.update_success", "cluster_manager.cds.update_success", "http.public.rds.public.update_success"} {
		if v := stat(t, g.envoy, name); v != "1" {
			t.Errorf("%s = %s after %d connects, want 1: a reconnect re-sent configuration", name, v, connects())
		}
	}
}

// replicaPolicy has a resource of every type: a TLS listener (secrets),
// an API-keys file, routes, clusters with endpoints.
const replicaPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
  - name: secure
    address: 127.0.0.1
    port: {{TLS_PORT}}
    tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }] }
services:
  api: { endpoints: [UPSTREAM_API] }
auth:
  api_keys: { file: keys/keys.yaml }
routes:
  - { name: health, match: { path: /health }, to: api, auth: { public: true } }
  - { name: orders, match: { path_prefix: /orders }, to: api, auth: { accept: [api_key] } }
`

// Two replicas given copies of one policy in different directories serve
// the same versions, and an Envoy moved from one to the other is sent
// nothing: it reconnects with the versions it has, which are the new
// replica's. The Envoy reaches the replicas through a relay standing for
// a Kubernetes Service or a balancer; both replicas tell Envoy to reach
// ext_authz there too, as replicas behind one address do.
func TestReplicasServeTheSameVersions(t *testing.T) {
	for _, delta := range []bool{false, true} {
		t.Run(map[bool]string{false: "sotw", true: "delta"}[delta], func(t *testing.T) {
			t.Parallel()
			testReplicasServeTheSameVersions(t, delta)
		})
	}
}

func testReplicasServeTheSameVersions(t *testing.T, delta bool) {
	requireEnvoy(t)
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "partner"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	addr, tlsAddr := freeAddr(t), freeAddr(t)
	ca := mustCA(t, "replicas")
	leaf := mustIssue(t, ca, testcerts.Options{CommonName: "api.example.com", DNSNames: []string{"api.example.com"}})
	policy := strings.NewReplacer("{{PORT}}", portOf(addr), "{{TLS_PORT}}", portOf(tlsAddr), "UPSTREAM_API", upstream(t, "api", 1, nil)[0]).Replace(replicaPolicy)
	var dirs [2]string
	for i := range dirs {
		// A different depth and name for each copy.
		dirs[i] = filepath.Join(t.TempDir(), strings.Repeat("nested/", i), fmt.Sprintf("replica-%d", i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dirs[i], "gateway.yaml"), policy)
		mustWrite(t, filepath.Join(dirs[i], "certs", "api.pem"), leaf.CertPEM)
		mustWrite(t, filepath.Join(dirs[i], "certs", "api-key.pem"), leaf.KeyPEM)
		if err := authz.WriteKeysFile(filepath.Join(dirs[i], "keys", "keys.yaml"), kf); err != nil {
			t.Fatal(err)
		}
	}
	relay := startRelay(t)
	shared := []string{"--authz-address", relay.addr, "--ratelimit-address", relay.addr, "--access-log-addr", relay.addr}
	a := startTollgateWith(t, dirs[0], shared...)
	b := startTollgateWith(t, dirs[1], shared...)
	if va, vb := configVersion(t, a), configVersion(t, b); va != vb {
		t.Fatalf("/debug/config versions differ: %s in %s, %s in %s", va, dirs[0], vb, dirs[1])
	}

	relay.to(a.grpcAddr)
	e := startEnvoy(t, relay.addr, "default", delta)
	headers := map[string]string{"X-API-Key": key}
	waitService(t, "http://"+addr+"/orders", headers, "api")
	ackedA := ackedVersions(t, a, e.NodeID(), false)
	before := updateStats(t, e)

	relay.to(b.grpcAddr)
	a.stop()
	// What the Envoy tells B it has is what it got from A. (A delta
	// request carries no versions, so over delta B knows only the types it
	// answered; over state of the world, every type.)
	for typ, v := range ackedVersions(t, b, e.NodeID(), delta) {
		if ackedA[typ] != v {
			t.Errorf("%s: version %s acknowledged to replica A, %s to replica B", typ, ackedA[typ], v)
		}
	}
	if status, r := call("GET", "http://"+addr+"/orders", headers); status != 200 || r.Service != "api" {
		t.Errorf("after the move: status %d from %q", status, r.Service)
	}
	// A barrier that counts: one new route, pushed on the same stream
	// after anything B would have re-sent at connect. Once the Envoy
	// routes it, every re-sent response was applied before it; the only
	// update since the move must be that route change (one update of
	// each listener's route configuration, which the route is on).
	writeFile(t, filepath.Join(dirs[1], "gateway.yaml"), policy+"  - { name: extra, match: { path: /extra }, to: api, auth: { public: true } }\n")
	waitService(t, "http://"+addr+"/extra", nil, "api")
	after := updateStats(t, e)
	for name, v := range after {
		want := before[name]
		if strings.Contains(name, ".rds.") && strings.HasSuffix(name, ".update_success") {
			want = strconv.Itoa(atoi(t, before[name]) + 1)
		}
		if v != want && !strings.HasSuffix(name, ".version_text") {
			t.Errorf("%s: %s before the move, %s after it and one route change (want %s): the Envoy was sent configuration it had", name, before[name], v, want)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("stat %q: %v", s, err)
	}
	return n
}

// configVersion is the policy version a Tollgate's /debug/config shows.
func configVersion(t *testing.T, tg *tollgate) string {
	t.Helper()
	_, body, err := httpGet(tg.adminURL("/debug/config"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(body, &v); err != nil || v.Version == "" {
		t.Fatalf("/debug/config: %v: %s", err, body)
	}
	return v.Version
}

// ackedVersions waits until the Tollgate sees node connected and, unless
// any is set, having acknowledged every type, and returns the versions by
// type URL.
func ackedVersions(t *testing.T, tg *tollgate, node string, any bool) map[string]string {
	t.Helper()
	var acked map[string]string
	eventually(t, 20*time.Second, func() error {
		_, body, err := httpGet(tg.adminURL("/debug/proxies"), nil)
		if err != nil {
			return err
		}
		var proxies []struct {
			NodeID string            `json:"node_id"`
			Acked  map[string]string `json:"acked"`
		}
		if err := json.Unmarshal(body, &proxies); err != nil {
			return err
		}
		for _, p := range proxies {
			if p.NodeID != node {
				continue
			}
			if !any && len(p.Acked) < 5 {
				return fmt.Errorf("acknowledged %v, want every type", p.Acked)
			}
			acked = p.Acked
			return nil
		}
		return fmt.Errorf("%s not connected: %s", node, body)
	})
	return acked
}

// updateStats are the Envoy's counts of configuration updates and
// rejections of every xDS subscription (lds, cds, rds, eds, sds).
func updateStats(t *testing.T, e *envoy.Process) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := e.Stats(ctx, `\.update_(success|rejected|empty)$|\.version_text$`)
	if err != nil {
		t.Fatal(err)
	}
	if stats["listener_manager.lds.update_success"] == "" || stats["cluster_manager.cds.update_success"] == "" {
		t.Fatalf("no lds or cds update stats in %v", stats)
	}
	return stats
}

// relay forwards loopback TCP connections to a target that a test
// changes: a stand-in for the Service or balancer in front of replicas.
type relay struct {
	addr   string
	target atomic.Pointer[string]
}

func startRelay(t *testing.T) *relay {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: lis.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { lis.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); r.forward(c) }()
		}
	}()
	return r
}

func (r *relay) to(addr string) { r.target.Store(&addr) }

// forward copies both ways until either side closes; a connection that
// comes before a target is set, or whose target is down, is closed.
func (r *relay) forward(c net.Conn) {
	defer c.Close()
	target := r.target.Load()
	if target == nil {
		return
	}
	up, err := net.DialTimeout("tcp", *target, 3*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); up.Close(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// Two replicas with a Redis rate-limit store write their keys' last use
// to it: a key used through one replica and a key used through the other
// both show in `tollgate keys list --redis`, and no replica writes a file
// beside its keys file.
func TestKeyUsageOfReplicasMeetsInRedis(t *testing.T) {
	srv := redistest.Start(t)
	kf := &authz.KeysFile{}
	keys := map[string]string{}
	for _, id := range []string{"partner", "ops", "unused"} {
		key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: id, Scopes: []string{"orders:read"}}, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = key
	}
	policy := strings.NewReplacer("UPSTREAM_API", upstream(t, "api", 1, nil)[0], "UPSTREAM_BILLING", upstream(t, "billing", 1, nil)[0]).Replace(keysPolicy)
	var gateways []*authGateway
	for _, id := range []string{"partner", "ops"} {
		g := startAuthGateway(t, policy, "", "", kf, "/health", "--redis", srv.Addr, "--key-usage-flush", "1h")
		if _, d := authSend(t, g.base+"/orders", map[string]string{"X-API-Key": keys[id]}); d != nil {
			t.Fatalf("%s refused: %+v", id, d)
		}
		gateways = append(gateways, g)
	}
	for _, g := range gateways {
		g.tollgate.stop() // flushes
		if _, err := os.Stat(authz.UsagePath(g.keysFile)); !os.IsNotExist(err) {
			t.Errorf("a replica with Redis wrote %s (%v)", authz.UsagePath(g.keysFile), err)
		}
	}
	out, err := exec.Command(tollgateBin, "keys", "list", "--file", gateways[0].keysFile, "--redis", srv.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	for id, used := range map[string]bool{"partner": true, "ops": true, "unused": false} {
		var line string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, id+" ") {
				line = strings.TrimSpace(l)
			}
		}
		if got := line != "" && !strings.HasSuffix(line, " -"); got != used {
			t.Errorf("keys list: %s %q, want a last use %v:\n%s", id, line, used, out)
		}
	}
}
