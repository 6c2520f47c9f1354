package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// hangingProviders is how many JWT providers the test's policy names, all
// on an identity provider that never answers. Before reloads took serve's
// context, the first reload fetched their JWKS one after another for 3 s
// each, and a SIGTERM waited for all of them (15 s); now it ends them.
const hangingProviders = 5

// SIGTERM while the first reload waits on JWKS endpoints that hang ends
// `tollgate serve` at once and cleanly: the reload is cancelled, not
// waited for.
func TestServeStopsOnSIGTERMWhileJWKSHangs(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "released", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(release); idp.Close() })

	var providers strings.Builder
	for i := range hangingProviders {
		fmt.Fprintf(&providers, "    - { issuer: https://idp%d.test, jwks_uri: %q }\n", i, fmt.Sprintf("%s/%d/jwks.json", idp.URL, i))
	}
	dir := policyDir(t, map[string]string{"gateway.yaml": fmt.Sprintf(`
listeners: [{ name: public, address: 127.0.0.1, port: %s }]
services: { api: { endpoints: [127.0.0.1:1] } }
auth:
  jwt:
%sroutes:
  - { name: api, match: { path_prefix: / }, to: api, auth: { accept: [jwt] } }
`, strings.TrimPrefix(freeAddr(t), "127.0.0.1:"), providers.String())})

	tg := &tollgate{grpcAddr: freeAddr(t), adminAddr: freeAddr(t), log: &testenv.Buffer{}, done: make(chan struct{})}
	tg.cmd = exec.Command(tollgateBin, "serve", "--policy", dir, "--grpc-addr", tg.grpcAddr,
		"--admin-addr", tg.adminAddr, "--log-format", "text", "--state-dir", t.TempDir())
	tg.cmd.Stdout, tg.cmd.Stderr = tg.log, tg.log
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exit error
	go func() { exit = tg.cmd.Wait(); close(tg.done) }()
	t.Cleanup(tg.stop)

	select {
	case <-arrived:
	case <-tg.done:
		t.Fatalf("tollgate exited before fetching a JWKS:\n%s", tg.log)
	case <-time.After(30 * time.Second):
		t.Fatalf("tollgate never fetched a JWKS:\n%s", tg.log)
	}
	if err := tg.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// A bound, not a measure: well past a prompt exit, short of the
	// 15 s the fetches one after another took.
	select {
	case <-tg.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("tollgate serve did not exit on SIGTERM while its reload waited on JWKS endpoints:\n%s", tg.log)
	}
	if exit != nil {
		t.Errorf("tollgate serve exited with %v on SIGTERM, want status 0:\n%s", exit, tg.log)
	}
}
