package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// serve runs an admin server on a loopback port until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + lis.Addr().String()
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "tollgate_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Bool
	s := New(reg, func() error {
		if !ready.Load() {
			return errors.New("no policy loaded yet")
		}
		return nil
	}, nil)
	s.HandleJSON("/debug/thing", func() any { return map[string]int{"n": 1} })
	base := serve(t, s)

	if code, body, _ := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body, _ := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "no policy loaded yet") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d", code)
	}
	if code, body, _ := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "tollgate_test_total 3") {
		t.Errorf("/metrics = %d, missing the registered counter:\n%s", code, body)
	}
	code, body, h := get(t, base+"/debug/thing")
	var v map[string]int
	if code != 200 || h.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(body), &v) != nil || v["n"] != 1 {
		t.Errorf("/debug/thing = %d %s %q", code, h.Get("Content-Type"), body)
	}
	if code, _, _ := get(t, base+"/debug/unknown"); code != 404 {
		t.Errorf("unknown page = %d, want 404", code)
	}
}

func TestIndexListsTheEndpoints(t *testing.T) {
	s := New(prometheus.NewRegistry(), func() error { return nil }, nil)
	s.HandleJSON("/debug/config", func() any { return map[string]string{} })
	base := serve(t, s)
	status, body, _ := get(t, base+"/")
	if status != 200 {
		t.Fatalf("GET / = %d", status)
	}
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/debug/config"} {
		if !strings.Contains(body, "  "+p+"\n") {
			t.Errorf("index does not list %s:\n%s", p, body)
		}
	}
	if status, _, _ := get(t, base+"/nope"); status != 404 {
		t.Errorf("GET /nope = %d, want 404", status)
	}
}
