package e2e

import (
	"strings"
	"testing"
)

// Headers through which the gateway tells services who called must never
// come from the client, on any route.
func TestClientCannotForgeIdentityHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, map[string]string{
		"gateway.yaml": listenerYAML + servicesYAML(t, "api") + "routes:\n  - { name: api, to: api }\n",
	}, false, "/", "api")
	status, r := call("GET", g.base+"/anything", map[string]string{
		"X-Tollgate-Client-Id": "admin",
		"x-tollgate-auth":      "api_key",
		"X-TOLLGATE-TIER":      "enterprise",
		"x-custom":             "kept",
	})
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for name := range r.Headers {
		if strings.HasPrefix(strings.ToLower(name), "x-tollgate-") {
			t.Errorf("the service received the client's %s header", name)
		}
	}
	if r.Headers["x-custom"] != "kept" {
		t.Errorf("an ordinary header was lost: %v", r.Headers)
	}
}
