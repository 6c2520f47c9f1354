package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tollgate/tollgate/authz"
)

// webSocketPolicy has a WebSocket route behind an API key, one open to
// anyone but limited per client address, one that does not allow the
// upgrade, and an unrelated route that the reload test edits.
const webSocketPolicy = `
listeners:
  - { name: public, address: 127.0.0.1, port: {{PORT}} }
services:
  chat: { endpoints: [UPSTREAM_CHAT] }
  other: { endpoints: [UPSTREAM_OTHER] }
auth:
  api_keys: { file: keys/keys.yaml }
rate_limits:
  per-ip: { key: [client_ip], fixed_window: { limit: 2, window: 1h } }
routes:
  - { name: chat, match: { path_prefix: /chat }, to: chat, upgrades: [websocket], auth: { accept: [api_key] } }
  - { name: lobby, match: { path_prefix: /lobby }, to: chat, upgrades: [websocket], auth: { public: true }, rate_limits: [per-ip] }
  - { name: plain, match: { path_prefix: /plain }, to: chat, auth: { public: true } }
  - { name: other, match: { path_prefix: /other }, to: other, auth: { public: true } }
`

// startWebSocketGateway serves webSocketPolicy (plus extraRoutes) with one
// API key and returns the gateway and the key.
func startWebSocketGateway(t *testing.T, extraRoutes string) (*authGateway, string) {
	t.Helper()
	kf := &authz.KeysFile{}
	key, err := authz.AddKey(kf, authz.NewKeyOptions{ID: "chatter"}, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	policy := strings.NewReplacer("UPSTREAM_CHAT", upstream(t, "chat", 1, nil)[0], "UPSTREAM_OTHER", upstream(t, "other", 1, nil)[0]).Replace(webSocketPolicy + extraRoutes)
	return startAuthGateway(t, policy, "", "", kf, "/other"), key
}

// dialWS opens a WebSocket through the gateway; on a refused upgrade it
// returns the HTTP status Envoy answered with.
func dialWS(t *testing.T, base, path string, header http.Header) (*websocket.Conn, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+path, &websocket.DialOptions{HTTPHeader: header})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err == nil {
		t.Cleanup(func() { _ = c.CloseNow() })
	}
	return c, status, err
}

// echo sends msg on c and checks it comes back unchanged.
func echo(c *websocket.Conn, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("write %q: %w", msg, err)
	}
	typ, got, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read the echo of %q: %w", msg, err)
	}
	if typ != websocket.MessageText || string(got) != msg {
		return fmt.Errorf("echo of %q: got %v %q", msg, typ, got)
	}
	return nil
}

func TestWebSocketThroughEnvoy(t *testing.T) {
	t.Parallel()
	g, key := startWebSocketGateway(t, "")

	// The upgrade request is authenticated like any other.
	if _, status, err := dialWS(t, g.base, "/chat", nil); err == nil || status != 401 {
		t.Errorf("upgrade without a key: status %d (%v), want 401", status, err)
	}
	// A route that does not allow the upgrade refuses it.
	if _, status, err := dialWS(t, g.base, "/plain", nil); err == nil || status != 403 {
		t.Errorf("upgrade on a route without websocket: status %d (%v), want 403", status, err)
	}
	c, status, err := dialWS(t, g.base, "/chat", http.Header{"X-API-Key": {key}})
	if err != nil {
		t.Fatalf("upgrade with a key: status %d: %v", status, err)
	}
	for _, msg := range []string{"hello", strings.Repeat("é", 5000), "bye"} {
		if err := echo(c, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}

	// Per-IP limits count upgrade requests: the lobby allows two an hour.
	for i := range 2 {
		if _, status, err := dialWS(t, g.base, "/lobby", nil); err != nil {
			t.Fatalf("lobby upgrade %d: status %d: %v", i+1, status, err)
		}
	}
	if _, status, err := dialWS(t, g.base, "/lobby", nil); err == nil || status != 429 {
		t.Errorf("third lobby upgrade within the limit's window: status %d (%v), want 429", status, err)
	}
}

// TestWebSocketSurvivesAnUnrelatedReload keeps a WebSocket open while a
// policy edit adds routes (one allowing WebSocket with a rewrite, a
// direct response, a redirect): the edit changes only the route
// configuration, so Envoy keeps the stream, which goes on echoing, and
// replaces no listener.
func TestWebSocketSurvivesAnUnrelatedReload(t *testing.T) {
	g, key := startWebSocketGateway(t, "")
	c, status, err := dialWS(t, g.base, "/chat", http.Header{"X-API-Key": {key}})
	if err != nil {
		t.Fatalf("upgrade: status %d: %v", status, err)
	}
	if err := echo(c, "before"); err != nil {
		t.Fatal(err)
	}
	modified := stat(t, g.envoy, "listener_manager.listener_modified")
	edited := strings.Replace(readFile(t, filepath.Join(g.dir, "gateway.yaml"))(),
		"  - { name: other, match: { path_prefix: /other }",
		"  - { name: added, match: { path_prefix: /added }, to: other, auth: { public: true }, upgrades: [websocket], rewrite: { host: added.internal } }\n"+
			"  - { name: gone, match: { path: /gone }, respond: { status: 410 }, auth: { public: true } }\n"+
			"  - { name: moved, match: { path: /moved }, redirect: { path: /added }, auth: { public: true } }\n"+
			"  - { name: other, match: { path_prefix: /other }", 1)
	writeFile(t, filepath.Join(g.dir, "gateway.yaml"), edited)
	waitService(t, g.base+"/added", nil, "other")
	for i := range 5 {
		if err := echo(c, fmt.Sprintf("after the reload %d", i)); err != nil {
			t.Fatalf("the stream did not survive the reload: %v", err)
		}
	}
	if now := stat(t, g.envoy, "listener_manager.listener_modified"); now != modified {
		t.Errorf("the listener was replaced (listener_modified %s → %s); only routes should change", modified, now)
	}
}

// TestWebSocketUnderAListenerBodyLimit: a listener's max_body (Envoy's
// buffer filter, which holds a body until it is whole) skips upgraded
// routes, whose stream never ends while the socket is open: held, the
// upgrade request never reached the service (the dial timed out).
func TestWebSocketUnderAListenerBodyLimit(t *testing.T) {
	t.Parallel()
	kf := &authz.KeysFile{}
	policy := strings.NewReplacer(
		"UPSTREAM_CHAT", upstream(t, "chat", 1, nil)[0], "UPSTREAM_OTHER", upstream(t, "other", 1, nil)[0],
		"port: {{PORT}} }", "port: {{PORT}}, request_limits: { max_body: 1KiB } }",
	).Replace(webSocketPolicy)
	g := startAuthGateway(t, policy, "", "", kf, "/other")
	c, status, err := dialWS(t, g.base, "/lobby", nil)
	if err != nil {
		t.Fatalf("upgrade under a listener's max_body: status %d: %v", status, err)
	}
	if err := echo(c, strings.Repeat("x", 4096)); err != nil { // past max_body: a stream, not a body
		t.Fatal(err)
	}
}
