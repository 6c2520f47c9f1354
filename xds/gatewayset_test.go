package xds

import (
	"testing"

	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"

	"github.com/tollgate/tollgate/internal/policytest"
)

// Every header the identity filter removes must be one a route may not
// match on: Envoy picks the route from the client's value before the
// filter removes it (policy.GatewaySetHeader, enforced by validation).
func TestRemovedHeadersAreGatewaySet(t *testing.T) {
	p := policytest.Load(t, "listeners: [{ name: l, port: 8080 }]\n")
	msg, err := identityHeaderFilter{}.listenerConfig(p, p.Listeners[0])
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, m := range msg.(*headermutationv3.HeaderMutation).GetMutations().GetRequestMutations() {
		name := m.GetRemove()
		if prefix := m.GetRemoveOnMatch().GetKeyMatcher().GetPrefix(); prefix != "" {
			name = prefix + "anything"
		}
		if name == "" {
			continue
		}
		removed++
		if !p.GatewaySetHeader(name) {
			t.Errorf("%q is removed from client requests, but policy.GatewaySetHeader does not say so", name)
		}
	}
	if removed < 3 {
		t.Fatalf("read %d removed headers from the identity filter; the test no longer reads its configuration", removed)
	}
}
