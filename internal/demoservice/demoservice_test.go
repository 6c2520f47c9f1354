package demoservice

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// do sends one request through the handler and decodes a Reply when the
// body is one.
func do(t *testing.T, h http.Handler, method, target string, header map[string]string) (*httptest.ResponseRecorder, Reply) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var r Reply
	_ = json.Unmarshal(rec.Body.Bytes(), &r) // not every answer is a Reply
	return rec, r
}

func TestEchoDescribesTheRequest(t *testing.T) {
	h := New("orders", "127.0.0.1:9001")
	rec, r := do(t, h, http.MethodPost, "http://gw.example/orders/7?b=2&a=1",
		map[string]string{"X-Tollgate-Client": "acme", "Accept": "application/json"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := Reply{Service: "orders", Instance: "127.0.0.1:9001", Method: "POST", Path: "/orders/7",
		Query: "b=2&a=1", Attempt: 1}
	if r.Service != want.Service || r.Instance != want.Instance || r.Method != want.Method ||
		r.Path != want.Path || r.Query != want.Query || r.Attempt != want.Attempt {
		t.Errorf("reply = %+v, want %+v", r, want)
	}
	for k, v := range map[string]string{"x-tollgate-client": "acme", "accept": "application/json", "host": "gw.example"} {
		if r.Headers[k] != v {
			t.Errorf("headers[%q] = %q, want %q (all: %v)", k, r.Headers[k], v, r.Headers)
		}
	}
	if got := rec.Header().Get("x-demo-instance"); got != "127.0.0.1:9001" {
		t.Errorf("x-demo-instance = %q", got)
	}
}

func TestPathIsNotCleaned(t *testing.T) {
	rec, r := do(t, New("s", "i"), http.MethodGet, "/a//b/../c", nil)
	if rec.Code != http.StatusOK || r.Path != "/a//b/../c" {
		t.Errorf("got %d %q, want 200 and the path as sent", rec.Code, r.Path)
	}
}

func TestStatusControl(t *testing.T) {
	h := New("s", "i")
	tests := []struct {
		target string
		header map[string]string
		want   int
	}{
		{"/?status=503", nil, 503},
		{"/", map[string]string{"x-demo-status": "429"}, 429},
		{"/?status=201", map[string]string{"x-demo-status": "500"}, 201}, // query wins
		{"/?status=99", nil, 400},
		{"/?status=abc", nil, 400},
	}
	for _, tt := range tests {
		if rec, _ := do(t, h, http.MethodGet, tt.target, tt.header); rec.Code != tt.want {
			t.Errorf("%s %v: status %d, want %d", tt.target, tt.header, rec.Code, tt.want)
		}
	}
}

func TestFailAttemptsThenSucceed(t *testing.T) {
	h := New("s", "i")
	id := map[string]string{"x-request-id": "req-1"}
	for attempt, want := range []int{503, 503, 200, 200} {
		rec, r := do(t, h, http.MethodGet, "/?fail_attempts=2", id)
		if rec.Code != want || r.Attempt != attempt+1 {
			t.Errorf("attempt %d: status %d attempt %d, want %d", attempt+1, rec.Code, r.Attempt, want)
		}
	}
	// Without a request id nothing can be counted: every try is the first.
	if rec, r := do(t, h, http.MethodGet, "/?fail_attempts=1", nil); rec.Code != 503 || r.Attempt != 1 {
		t.Errorf("no request id: status %d attempt %d", rec.Code, r.Attempt)
	}
}

func TestSharedAttemptsCountAcrossInstances(t *testing.T) {
	a := NewAttempts(0)
	one, two := New("users", "i1", WithAttempts(a)), New("users", "i2", WithAttempts(a))
	id := map[string]string{"x-request-id": "r"}
	do(t, one, http.MethodGet, "/", id)
	if _, r := do(t, two, http.MethodGet, "/", id); r.Attempt != 2 {
		t.Errorf("attempt on the second instance = %d, want 2", r.Attempt)
	}
}

func TestDelay(t *testing.T) {
	h := New("s", "i")
	start := time.Now()
	if rec, _ := do(t, h, http.MethodGet, "/", map[string]string{"x-demo-delay": "30ms"}); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered after %v, want at least 30ms", d)
	}
	for _, bad := range []string{"soon", "-1s", "2h"} {
		if rec, _ := do(t, h, http.MethodGet, "/?delay="+bad, nil); rec.Code != 400 {
			t.Errorf("delay=%s: status %d, want 400", bad, rec.Code)
		}
	}
}

func TestDelayStopsWhenClientLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/?delay=1m", nil)
	done := make(chan struct{})
	go func() {
		New("s", "i").ServeHTTP(httptest.NewRecorder(), req)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler kept sleeping after the client left")
	}
}

func TestHealthFlip(t *testing.T) {
	h := New("s", "i")
	if rec, _ := do(t, h, http.MethodGet, "/healthz", nil); rec.Code != 200 {
		t.Fatalf("initial /healthz %d", rec.Code)
	}
	if rec, _ := do(t, h, http.MethodPost, "/_demo/health?status=500", nil); rec.Code != 200 {
		t.Fatalf("flip: %d %s", rec.Code, rec.Body)
	}
	if rec, _ := do(t, h, http.MethodGet, "/healthz", nil); rec.Code != 500 {
		t.Errorf("/healthz after flip: %d, want 500", rec.Code)
	}
	if rec, _ := do(t, h, http.MethodGet, "/_demo/health?status=200", nil); rec.Code != 405 {
		t.Errorf("GET /_demo/health: %d, want 405", rec.Code)
	}
	if rec, _ := do(t, h, http.MethodPost, "/_demo/health?status=x", nil); rec.Code != 400 {
		t.Errorf("bad status: %d, want 400", rec.Code)
	}
	// Other paths keep working while unhealthy, as a real service would.
	if rec, _ := do(t, h, http.MethodGet, "/orders", nil); rec.Code != 200 {
		t.Errorf("/orders while unhealthy: %d", rec.Code)
	}
}

func TestAttemptsForgetsTheOldest(t *testing.T) {
	a := NewAttempts(2)
	a.Next("a")
	a.Next("b")
	a.Next("a") // a is now the most recent
	a.Next("c") // evicts b
	if got := a.Next("a"); got != 3 {
		t.Errorf("kept id counted %d, want 3", got)
	}
	if got := a.Next("b"); got != 1 {
		t.Errorf("evicted id counted %d, want 1", got)
	}
	if n := len(a.byID); n != 2 {
		t.Errorf("remembers %d ids, want 2", n)
	}
}

func TestAttemptsConcurrent(t *testing.T) {
	a := NewAttempts(0)
	const n = 50
	results := make(chan int, n)
	for range n {
		go func() { results <- a.Next("same") }()
	}
	seen := map[int]bool{}
	for range n {
		seen[<-results] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[i] {
			t.Fatalf("attempt %d never handed out: counts are not atomic", i)
		}
	}
}
