package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/admin"
)

// startStatusAdmin serves the fixture's model on a real admin server.
func startStatusAdmin(t *testing.T, s *statusSources) string {
	t.Helper()
	adm := admin.New(prometheus.NewRegistry(), func() error { return nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	serveStatus(adm, s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = adm.Serve(ctx, lis); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + lis.Addr().String()
}

func TestStatusCommandPrintsProxiesGenerationsAndRollout(t *testing.T) {
	s, serving, _ := statusFixture(t)
	url := startStatusAdmin(t, s)
	out, errOut, code := runCmd(t, "status", "--admin", url)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"serving generation " + serving,
		"generation " + serving + " applied on 1 of 2 proxies",
		"PROXIES (2)",
		"edge-1", "edge ", serving,
		"rejecting Listener",
		"Listener abc123 at 2026-11-30T01:02:03Z (3x): bad listener <script>",
		"no staged rollout configured",
		"DEGRADED MODES\nnone",
		"recent: 1 denials, 1 rate-limit events",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runCmd(t, "status", "--admin", url, "--json")
	var st Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || len(st.Proxies) != 2 || st.Generation.Version != serving {
		t.Errorf("--json: exit %d, %v: %+v", code, err, st)
	}
}

// The page and the JSON are served on the admin port beside the others.
func TestStatusEndpointsAreServed(t *testing.T) {
	s, _, _ := statusFixture(t)
	url := startStatusAdmin(t, s)
	for path, ctype := range map[string]string{"/debug/status": "application/json", "/status": "text/html", "/status/status.js": "text/javascript", "/status/status.css": "text/css"} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s, want 200 %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), ctype)
		}
	}
	resp, err := http.Get(url + "/status/nothing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("an unknown asset: %d, want 404", resp.StatusCode)
	}
}

// A node id or an error may carry terminal escape sequences; the table
// shows them as '?'.
func TestStatusCommandNeutralisesControlCharacters(t *testing.T) {
	if got := clean("edge\x1b]0;pwned\x07\tx\n"); got != "edge?]0;pwned??x?" {
		t.Errorf("clean = %q", got)
	}
}

func TestStatusCommandFailsClearly(t *testing.T) {
	if _, errOut, code := runCmd(t, "status", "--admin", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errOut, "tollgate status:") {
		t.Errorf("nothing listening: exit %d %q, want 1", code, errOut)
	}
	for _, args := range [][]string{{"status", "--admin", "ftp://x"}, {"status", "extra"}, {"status", "--nope"}} {
		if _, _, code := runCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
