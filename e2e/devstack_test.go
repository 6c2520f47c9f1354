package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// devstackBin builds cmd/devstack (what `make run` runs) once, beside the
// tollgate binary TestMain built.
var devstackBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(filepath.Dir(tollgateBin), "devstack")
	out, err := goBuild(bin, "../cmd/devstack")
	if err != nil {
		return "", fmt.Errorf("building devstack: %v\n%s", err, out)
	}
	return bin, nil
})

// devstack is a running `devstack`, on ports other than make run's.
type devstack struct {
	cmd             *exec.Cmd
	out             *testenv.Buffer
	done            chan struct{}
	gateway, admin  string
	policy, demoKey string
}

// startDevstack runs devstack on a copy of examples/gateway with every port
// moved off its default (free loopback ports, as `make run GATEWAY_PORT=...
// GRPC_PORT=...` passes them), and waits for its banner.
func startDevstack(t *testing.T) *devstack {
	t.Helper()
	envoyBin := requireEnvoy(t)
	bin, err := devstackBin()
	if err != nil {
		t.Fatal(err)
	}
	d := &devstack{out: &testenv.Buffer{}, done: make(chan struct{}), gateway: freeAddr(t), admin: freeAddr(t), policy: t.TempDir()}
	files, _ := filepath.Glob("../examples/gateway/*.yaml")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(d.policy, filepath.Base(f)), string(data))
	}
	var services []string
	for _, name := range []string{"orders", "orders-v2", "users", "users"} {
		services = append(services, name+"="+freeAddr(t))
	}
	_, envoyAdminPort, _ := net.SplitHostPort(freeAddr(t))
	d.cmd = exec.Command(bin, "--tollgate", tollgateBin, "--policy", d.policy, "--quiet", "--wait", "20s",
		"--gateway", d.gateway, "--grpc-addr", freeAddr(t), "--admin-addr", d.admin,
		"--envoy-admin-port", envoyAdminPort, "--services", strings.Join(services, ","))
	// devstack's Tollgate keeps its last good generation under
	// $XDG_STATE_HOME: a test's own, so nothing is left in the user's home.
	d.cmd.Env = append(os.Environ(), "ENVOY_BIN="+envoyBin, "XDG_STATE_HOME="+t.TempDir(), "STATE_DIRECTORY=")
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop(t)
		raceFree(t, "devstack", d.out.String())
		if t.Failed() {
			t.Logf("devstack output:\n%s", d.out)
		}
	})
	eventually(t, 60*time.Second, func() error {
		select {
		case <-d.done:
			t.Fatalf("devstack exited:\n%s", d.out)
		default:
		}
		if !strings.Contains(d.out.String(), "Ctrl-C stops everything") {
			return fmt.Errorf("no banner yet")
		}
		return nil
	})
	if m := regexp.MustCompile(`Demo API key:\s+(\S+)`).FindStringSubmatch(d.out.String()); m != nil {
		d.demoKey = m[1]
	}
	return d
}

// stop stops devstack as Ctrl-C does and waits for it to exit.
func (d *devstack) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		t.Errorf("devstack did not stop within 40s of SIGINT")
	}
}

// `make run` with other ports: devstack moves the example policy's listener
// and endpoints to them, and the whole gateway works there; stopping it
// stops everything.
func TestDevstackServesTheExampleOnOtherPorts(t *testing.T) {
	t.Parallel()
	d := startDevstack(t)
	if strings.Contains(d.out.String(), "WARNING: nothing answers") {
		t.Fatalf("the gateway did not come up on %s", d.gateway)
	}
	waitService(t, "http://"+d.gateway+"/users/7", map[string]string{"x-user-id": "42"}, "users")
	if d.demoKey == "" {
		t.Fatal("the banner shows no demo API key")
	}
	// The keys file is the original's: a key-only route admits the key.
	if status, r := call("POST", "http://"+d.gateway+"/orders", map[string]string{"X-API-Key": d.demoKey}); status != 200 || r.Service != "orders" {
		t.Errorf("POST /orders with the demo key: %d from %q", status, r.Service)
	}
	if data, _ := os.ReadFile(filepath.Join(d.policy, "gateway.yaml")); !strings.Contains(string(data), "port: 8080") {
		t.Errorf("the original policy was changed:\n%s", data)
	}
	d.stop(t)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("devstack exit code %d", code)
	}
	for _, addr := range []string{d.gateway, d.admin} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after devstack stopped", addr)
		}
	}
}

// curl sends one request as a curl process does: a new connection each
// time, about 75 ms after the previous one (a process start).
func curl(t *testing.T, method, url string, headers map[string]string) int {
	t.Helper()
	time.Sleep(75 * time.Millisecond)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	req, err := newRequest(method, url, headers, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err := roundTrip(client, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// The README's quickstart, request by request, as sequential curls: every
// anonymous request counts against the example's 20 a minute per IP, so
// after the two anonymous requests before it the anonymous loop sees
// exactly 18 × 200 and then only 429, however slow the loop; the loop with
// the demo key sees 25 × 200.
func TestQuickstartAnonymousRequestsStopAtExactly20AndTheKeyLoopPasses(t *testing.T) {
	t.Parallel()
	d := startDevstack(t)
	gw := "http://" + d.gateway
	waitService(t, gw+"/users/7", nil, "users")
	key := map[string]string{"X-API-Key": d.demoKey}
	var anonymous []int
	for _, step := range []struct {
		method, path string
		headers      map[string]string
		want         int // 0: an anonymous GET /orders, counted below
	}{
		{"GET", "/orders", nil, 0},
		{"GET", "/orders", map[string]string{"x-beta": "true"}, 0},
		{"GET", "/users/7", map[string]string{"x-user-id": "42"}, 200},
		{"GET", "/nowhere", nil, 404},
		{"GET", "/orders", key, 200},
		{"POST", "/orders", key, 200},
		{"POST", "/orders", nil, 401},
	} {
		code := curl(t, step.method, gw+step.path, step.headers)
		if step.want == 0 {
			anonymous = append(anonymous, code)
		} else if code != step.want {
			t.Errorf("%s %s: %d, want %d", step.method, step.path, code, step.want)
		}
	}
	var withKey []int
	for range 25 {
		anonymous = append(anonymous, curl(t, "GET", gw+"/orders", nil))
	}
	for range 25 {
		withKey = append(withKey, curl(t, "GET", gw+"/orders", key))
	}
	if want := slices.Concat(slices.Repeat([]int{200}, 20), slices.Repeat([]int{429}, 7)); !slices.Equal(anonymous, want) {
		t.Errorf("anonymous GET /orders: %v, want 20 × 200 then 429", anonymous)
	}
	if want := slices.Repeat([]int{200}, 25); !slices.Equal(withKey, want) {
		t.Errorf("loop with the demo key: %v, want 25 × 200", withKey)
	}
}
