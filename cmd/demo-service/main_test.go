package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/demoservice"
)

func TestServesSeveralInstancesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrs := make(chan []string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--name", "users", "--quiet",
			"--listen", "127.0.0.1:0,127.0.0.1:0", "--listen", "127.0.0.1:0"},
			io.Discard, func(a []string) { addrs <- a })
	}()
	var bound []string
	select {
	case bound = <-addrs:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	if len(bound) != 3 {
		t.Fatalf("bound %v, want 3 instances", bound)
	}
	for _, a := range bound {
		r := get(t, "http://"+a+"/users?x=1")
		if r.Service != "users" || r.Instance != a || r.Query != "x=1" {
			t.Errorf("%s answered %+v", a, r)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

func TestRejectsBadUsage(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"extra"}, {"--listen", "127.0.0.1:99999"}} {
		var out strings.Builder
		if err := run(t.Context(), args, &out, nil); err == nil {
			t.Errorf("run %q succeeded", args)
		}
	}
}

func get(t *testing.T, url string) demoservice.Reply {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r demoservice.Reply
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}
