package xds

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/internal/policytest"
)

// TestHeaderAndCORSEditsLeaveListenersAlone translates a policy without
// header changes or cors and one with both, on the listener and on a
// route: the listeners are byte for byte the same (Envoy never drains one
// for such an edit) and only the route configuration differs.
func TestHeaderAndCORSEditsLeaveListenersAlone(t *testing.T) {
	const services = "services:\n  api: { endpoints: [127.0.0.1:9001] }\n"
	plain := `
listeners:
  - { name: public, port: 8080 }
routes:
  - { name: open, match: { path_prefix: /open }, to: api }
` + services
	edited := `
listeners:
  - name: public
    port: 8080
    headers: { request: { set: [{ name: x-gateway, value: "${client_ip}" }] }, response: { remove: [x-powered-by] } }
    cors: { allow_origins: [https://app.example.com] }
routes:
  - name: open
    match: { path_prefix: /open }
    to: api
    headers: { response: { add: [{ name: x-route, value: "${route}" }] } }
    cors: { allow_origins: ["https://*.example.com"], allow_credentials: true }
` + services
	ra, err := Translate(policytest.Load(t, plain), DefaultGroup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Translate(policytest.Load(t, edited), DefaultGroup, Options{})
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(m proto.Message) []byte {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if len(ra.Listeners) != 1 || len(rb.Listeners) != 1 {
		t.Fatalf("listeners: %d and %d", len(ra.Listeners), len(rb.Listeners))
	}
	if !bytes.Equal(marshal(ra.Listeners[0]), marshal(rb.Listeners[0])) {
		t.Errorf("the listener differs:\n%v\n%v", ra.Listeners[0], rb.Listeners[0])
	}
	if bytes.Equal(marshal(ra.Routes[0]), marshal(rb.Routes[0])) {
		t.Errorf("the route configuration is the same: the edit was lost")
	}
}
