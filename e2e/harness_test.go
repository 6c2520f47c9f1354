// Package e2e holds the end-to-end tests: the real tollgate binary, a real
// Envoy 1.40, real demo services and real HTTP clients, all on loopback.
// Every process a test starts is stopped by t.Cleanup.
package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/demoservice"
	"github.com/tollgate/tollgate/internal/testenv"
)

// tollgateBin is the tollgate binary built once by TestMain.
var tollgateBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// Every test here runs the tollgate binary, most with a real
		// Envoy: none belongs in `make unit`, and skipping here spares
		// the build too.
		fmt.Println("e2e: skipped under -short (make e2e runs it)")
		return 0
	}
	dir, err := os.MkdirTemp("", "tollgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if raceEnabled && !strings.Contains(os.Getenv("GORACE"), "atexit_sleep_ms") {
		// A -race binary sleeps 1 s before it exits, so that other
		// goroutines may still report; every `tollgate check` and every
		// stop would pay it. The reports come before the exit anyway.
		if err := os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	tollgateBin = filepath.Join(dir, "tollgate")
	if out, err := goBuild(tollgateBin, "../cmd/tollgate"); err != nil {
		fmt.Fprintf(os.Stderr, "building tollgate: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// goBuild builds the command in pkg into bin, with -race when the tests
// run with it, so that the race detector watches the processes the tests
// start as well as the tests.
func goBuild(bin, pkg string) ([]byte, error) {
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	return exec.Command("go", append(args, pkg)...).CombinedOutput()
}

// requireEnvoy returns the Envoy binary (testenv.Require: under CI a
// missing Envoy fails the test, since the end-to-end suite is the proof
// the gateway works).
func requireEnvoy(t testing.TB) string {
	t.Helper()
	return testenv.Require(t, "Envoy", "make deps-envoy", envoy.FindBinary)
}

// tollgate is a running `tollgate serve` process.
type tollgate struct {
	cmd       *exec.Cmd
	grpcAddr  string
	adminAddr string
	log       *testenv.Buffer
	done      chan struct{}
}

// freeAddr returns a free loopback host:port.
func freeAddr(t testing.TB) string {
	t.Helper()
	port, err := envoy.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startTollgate runs `tollgate serve` on the policy directory, on the given
// gRPC address (empty: a free one), and waits until it is ready.
func startTollgate(t testing.TB, policyDir, grpcAddr string) *tollgate {
	t.Helper()
	return startTollgateAt(t, policyDir, grpcAddr)
}

// startTollgateWith is startTollgate on a free address with extra serve
// flags (--only, --redis, ...).
func startTollgateWith(t testing.TB, policyDir string, extra ...string) *tollgate {
	t.Helper()
	return startTollgateAt(t, policyDir, "", extra...)
}

func startTollgateAt(t testing.TB, policyDir, grpcAddr string, extra ...string) *tollgate {
	t.Helper()
	if grpcAddr == "" {
		grpcAddr = freeAddr(t)
	}
	tg := &tollgate{grpcAddr: grpcAddr, adminAddr: freeAddr(t), log: &testenv.Buffer{}, done: make(chan struct{})}
	args := []string{"serve", "--policy", policyDir,
		"--grpc-addr", tg.grpcAddr, "--admin-addr", tg.adminAddr, "--log-format", "text"}
	if !slices.Contains(extra, "--state-dir") {
		// Each Tollgate keeps its last good generation apart, so that no
		// test restores another's (nor the user's, by default in ~).
		args = append(args, "--state-dir", t.TempDir())
	}
	tg.run(t, append(args, extra...)...)
	eventually(t, 10*time.Second, func() error {
		select {
		case <-tg.done:
			t.Fatalf("tollgate exited:\n%s", tg.log)
		default:
		}
		status, body, err := httpGet(tg.adminURL("/readyz"), nil)
		if err != nil {
			return err
		}
		if status != 200 {
			return fmt.Errorf("readyz %d: %s", status, body)
		}
		return nil
	})
	return tg
}

// run starts tollgate with args and stops it in t.Cleanup, failing the
// test when the race detector (a -race build, see goBuild) reported a
// data race in it, and showing its log when the test failed.
func (tg *tollgate) run(t testing.TB, args ...string) {
	t.Helper()
	tg.cmd = exec.Command(tollgateBin, args...)
	tg.cmd.Stdout, tg.cmd.Stderr = tg.log, tg.log
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = tg.cmd.Wait(); close(tg.done) }()
	t.Cleanup(func() {
		tg.stop()
		raceFree(t, "tollgate", tg.log.String())
		if t.Failed() {
			t.Logf("tollgate %s log:\n%s", strings.Join(args, " "), tg.log)
		}
	})
}

// raceFree fails the test when a process's output holds a report of the
// race detector, which a -race build prints but does not exit for.
func raceFree(t testing.TB, what, output string) {
	t.Helper()
	if strings.Contains(output, "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in %s (its output follows)", what)
	}
}

func (tg *tollgate) adminURL(path string) string { return "http://" + tg.adminAddr + path }

// stop sends SIGTERM and waits for the process to exit.
func (tg *tollgate) stop() {
	select {
	case <-tg.done:
		return
	default:
	}
	_ = tg.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-tg.done:
	case <-time.After(10 * time.Second):
		_ = tg.cmd.Process.Kill()
		<-tg.done
	}
}

// metric returns the value of one sample line of Tollgate's /metrics, such
// as `tollgate_policy_reloads_total{result="rejected"}`.
func (tg *tollgate) metric(t testing.TB, sample string) string {
	t.Helper()
	_, body, err := httpGet(tg.adminURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// startEnvoy runs a real Envoy against Tollgate, with extra command-line
// arguments, and waits until it has received its configuration.
func startEnvoy(t testing.TB, xdsAddr, group string, delta bool, extraArgs ...string) *envoy.Process {
	t.Helper()
	bin := requireEnvoy(t)
	log := &testenv.Buffer{}
	p, err := envoy.Start(context.Background(), envoy.Config{
		Binary: bin, XDSAddress: xdsAddr, NodeGroup: group, Delta: delta,
		Stderr: log, LogLevel: "warn", ExtraArgs: extraArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Stop()
		if t.Failed() {
			t.Logf("envoy %s log:\n%s", p.NodeID(), log)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitLive(ctx); err != nil {
		t.Fatalf("envoy not live: %v\n%s", err, log)
	}
	return p
}

// upstream starts n instances of the demo service called name on free
// loopback ports and returns their addresses. wrap, if set, wraps each
// instance's handler (to make one slow, say).
func upstream(t testing.TB, name string, n int, wrap func(i int, h http.Handler) http.Handler) []string {
	t.Helper()
	var addrs []string
	for i := range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		var h http.Handler = demoservice.New(name, addr)
		if wrap != nil {
			h = wrap(i, h)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(func() { _ = srv.Close() })
		addrs = append(addrs, addr)
	}
	return addrs
}

// policyDir writes files into a new policy directory.
func policyDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

// writeFile replaces a file atomically, as editors and git do, so the
// watcher never reads half a file.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64},
}

// The HTTP helpers every test uses: newRequest builds a request,
// roundTrip sends it and reads the answer; httpGet, httpDo and call are
// the shorthands for the shared client.

func httpGet(url string, headers map[string]string) (int, []byte, error) {
	return httpDo("GET", url, headers)
}

func httpDo(method, url string, headers map[string]string) (int, []byte, error) {
	req, err := newRequest(method, url, headers, "")
	if err != nil {
		return 0, nil, err
	}
	resp, body, err := roundTrip(client, req)
	if resp == nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, err
}

// newRequest builds a request with headers and a body. A "Host" header
// sets the request's Host, which Go's client would otherwise ignore.
func newRequest(method, url string, headers map[string]string, body string) (*http.Request, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

// roundTrip sends req with c and returns the response with its body read
// and closed (resp is nil when the request failed).
func roundTrip(c *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// mustRoundTrip is roundTrip of a new request on the shared client,
// failing the test when the request fails.
func mustRoundTrip(t testing.TB, method, url string, headers map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := newRequest(method, url, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, b, err := roundTrip(client, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b
}

// reply is the demo service's answer.
type reply struct {
	Service  string            `json:"service"`
	Instance string            `json:"instance"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Headers  map[string]string `json:"headers"`
}

// call sends a request through the gateway and decodes the demo service's
// reply; status is 0 on a transport error.
func call(method, url string, headers map[string]string) (int, reply) {
	status, body, err := httpDo(method, url, headers)
	var r reply
	if err == nil && status == 200 {
		_ = json.Unmarshal(body, &r)
	}
	return status, r
}

// eventually retries fn every 50ms until it returns nil or the timeout
// passes, then fails the test with fn's last error.
func eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitService waits until url answers 200 from the named service, or from
// any service when service is "".
func waitService(t testing.TB, url string, headers map[string]string, service string) {
	t.Helper()
	eventually(t, 15*time.Second, func() error {
		status, r := call("GET", url, headers)
		if status != 200 || (service != "" && r.Service != service) {
			return fmt.Errorf("GET %s: status %d from %q, want 200 from %q", url, status, r.Service, service)
		}
		return nil
	})
}

// configDump returns an Envoy's /config_dump.
func configDump(t testing.TB, p *envoy.Process) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := p.ConfigDump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
