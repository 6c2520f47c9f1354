package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/authz"
)

// TestHealthExitsZeroOnlyOn2xx: `tollgate health URL` is the container
// health check of an image with no curl or shell (distroless): 0 on a 2xx
// answer, 1 on any other status or no answer, 2 on a usage error.
func TestHealthExitsZeroOnlyOn2xx(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)

	if _, errOut, code := runCmd(t, "health", srv.URL+"/readyz"); code != 0 {
		t.Fatalf("200: exit %d %s", code, errOut)
	}
	status = http.StatusServiceUnavailable
	if _, errOut, code := runCmd(t, "health", srv.URL+"/readyz"); code != 1 || !strings.Contains(errOut, "503") {
		t.Fatalf("503: exit %d %q", code, errOut)
	}
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(ok.Close)
	if _, _, code := runCmd(t, "health", ok.URL+"/healthz", srv.URL+"/readyz"); code != 1 {
		t.Fatalf("one of two failing: exit %d", code)
	}
	status = http.StatusNoContent
	if _, errOut, code := runCmd(t, "health", ok.URL+"/healthz", srv.URL+"/readyz"); code != 0 {
		t.Fatalf("two healthy: exit %d %s", code, errOut)
	}
	srv.Close()
	if _, _, code := runCmd(t, "health", srv.URL+"/readyz"); code != 1 {
		t.Fatalf("nothing listening: exit %d", code)
	}
	for _, args := range [][]string{{"health"}, {"health", "http://x/", "b"}, {"health", "ftp://x/"}, {"health", "--nope", "http://x/"}} {
		if _, _, code := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

// TestKeysNewIfMissingCreatesTheFileOnce: the Compose stack's keys-init
// service runs `keys new --if-missing` on every start; only the first,
// with no keys file yet, adds (and prints) a key.
func TestKeysNewIfMissingCreatesTheFileOnce(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys", "keys.yaml")
	args := []string{"keys", "new", "--if-missing", "--id", "demo", "--scopes", "orders:read", "--tier", "gold", "--file", file}
	out, errOut, code := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("first run: exit %d %s", code, errOut)
	}
	if id, err := authz.ParseKey(strings.TrimSpace(out)); err != nil || id != "demo" {
		t.Fatalf("first run printed %q: %v", out, err)
	}
	before, _ := os.ReadFile(file)
	out, errOut, code = runCmd(t, args...)
	if code != 0 || out != "" {
		t.Fatalf("second run: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	if after, _ := os.ReadFile(file); string(after) != string(before) {
		t.Error("the second run changed the keys file")
	}
}
