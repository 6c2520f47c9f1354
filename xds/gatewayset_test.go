package xds

import (
	"testing"

	"github.com/tollgate/tollgate/policy"
)

// Every header the identity filter removes must be one a route may not
// match on: Envoy picks the route from the client's value before the
// filter removes it (policy.GatewaySetHeader, enforced by validation).
func TestRemovedHeadersAreGatewaySet(t *testing.T) {
	p := &policy.Policy{}
	for _, h := range append(p.IdentityHeaders(), clientAddressHeaders...) {
		if !p.GatewaySetHeader(h) {
			t.Errorf("%q is removed from client requests, but policy.GatewaySetHeader does not say so", h)
		}
	}
	if !p.GatewaySetHeader(policy.IdentityHeaderPrefix + "client-id") {
		t.Error("x-tollgate-* must be gateway-set")
	}
}
