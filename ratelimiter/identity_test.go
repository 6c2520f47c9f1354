package ratelimiter

import (
	"testing"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// The identity contract (policy/identity.go) from the rate limiter's side:
// the descriptor's auth entry is what authz put in x-tollgate-auth, or
// missing when no authz call was made (a public route, a policy without
// auth, Envoy failing open). Missing counts as anonymous.
func TestConditionsReadTheAuthEntry(t *testing.T) {
	l, err := Compile(policytest.Load(t, `
rate_limits:
  anon: { when: anonymous, fixed_window: { limit: 1, window: 1m } }
  authed: { when: authenticated, fixed_window: { limit: 1, window: 1m } }
  gold-only: { when: "tier:gold", fixed_window: { limit: 1, window: 1m } }
  any: { fixed_window: { limit: 1, window: 1m } }
tiers:
  gold: { rate_limits: [] }
`), NewMemoryStore(nil), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries []string
		applies map[string]bool
	}{
		{"no authz call", nil, map[string]bool{"anon": true, "authed": false, "gold-only": false, "any": true}},
		{"anonymous", []string{policy.DescriptorAuth, policy.Anonymous}, map[string]bool{"anon": true, "authed": false, "gold-only": false, "any": true}},
		{"api key", []string{policy.DescriptorAuth, policy.AuthAPIKey, "client_id", "k1"}, map[string]bool{"anon": false, "authed": true, "gold-only": false, "any": true}},
		{"gold jwt", []string{policy.DescriptorAuth, policy.AuthJWT, "user", "u", "tier", "gold"}, map[string]bool{"anon": false, "authed": true, "gold-only": true, "any": true}},
		{"client cert", []string{policy.DescriptorAuth, policy.AuthClientCert}, map[string]bool{"anon": false, "authed": true, "gold-only": false, "any": true}},
	} {
		for limit, want := range tc.applies {
			if _, _, got := l.match(desc(limit, tc.entries...)); got != want {
				t.Errorf("%s: limit %s applies = %v, want %v", tc.name, limit, got, want)
			}
		}
	}
}
