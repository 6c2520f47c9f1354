package demoservice

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestStartServesEveryAddressAndShutsDown(t *testing.T) {
	s, err := Start("users", []string{"127.0.0.1:0", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range s.Addrs() {
		resp, err := http.Get("http://" + a + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("x-demo-instance"); got != a {
			t.Errorf("%s answered as instance %q", a, got)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + s.Addrs()[0] + "/"); err == nil {
		t.Error("still serving after Shutdown")
	}
}

func TestStartLeavesNothingListeningOnFailure(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	_, err = Start("s", []string{freeAddr, taken.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want address already in use", err)
	}
	l, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("%s still bound after a failed Start: %v", freeAddr, err)
	}
	l.Close()
	if _, err := Start("s", nil); err == nil {
		t.Error("Start with no address succeeded")
	}
}
