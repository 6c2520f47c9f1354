package e2e

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A client that never finishes its request headers (slowloris) is
// answered 408 and disconnected after the request-headers timeout (10s),
// instead of holding a connection for Envoy's hour-long idle timeout.
func TestEdgeCutsOffSlowRequestHeaders(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /users HTTP/1.1\r\nHost: api\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	// Generous: the timeout is 10s; without one Envoy would wait an hour.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the connection was still open after 30s (%v); read %q", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 408") {
		t.Errorf("answer %q, want a 408", got)
	}
}

// Over HTTP/2 Envoy announces the edge limits: at most 100 concurrent
// streams per connection and a 64 KiB window per stream.
func TestEdgeAnnouncesHTTP2Limits(t *testing.T) {
	t.Parallel()
	g := startEdgeGateway(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// h2c with prior knowledge: the preface, then our (empty) settings.
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, bufio.NewReader(conn))
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	s, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	want := map[http2.SettingID]uint32{
		http2.SettingMaxConcurrentStreams: 100,
		http2.SettingInitialWindowSize:    64 << 10,
	}
	for id, v := range want {
		if got, ok := s.Value(id); !ok || got != v {
			t.Errorf("%v = %d (sent: %v), want %d", id, got, ok, v)
		}
	}
}
