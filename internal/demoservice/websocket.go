package demoservice

import (
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// isWebSocket reports whether the request asks to upgrade to WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// webSocketEcho accepts the upgrade and sends every message back as it
// came, text or binary, until the client closes, so a test can see a
// stream through the gateway stay open and carry data both ways.
func (h *handler) webSocketEcho(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// A demo echo with no cookies or state: any page may talk to it,
		// and the gateway in front may present another Host.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has answered the client
	}
	defer func() { _ = c.CloseNow() }()
	ctx := r.Context()
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return // closed by the client, or the connection broke
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return
		}
	}
}
