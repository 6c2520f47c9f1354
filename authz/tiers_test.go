package authz

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policytest"
)

func TestUndeclaredTiers(t *testing.T) {
	kf := &KeysFile{Keys: []*KeyRecord{{ID: "a", Tier: "gold"}, {ID: "b", Tier: "glod"}, {ID: "c"}, {ID: "d", Tier: "Free"}}}
	for _, tc := range []struct {
		name, tiers string
		want        []string
	}{
		{"no tiers section: nothing to match", "", nil},
		{"typo and case", "tiers: { gold: { rate_limits: [] }, free: { rate_limits: [] } }\n", []string{`key "b" has tier "glod"`, `key "d" has tier "Free"`}},
	} {
		p := policytest.Load(t, "listeners: [{ name: l, port: 8080 }]\n"+tc.tiers)
		got := UndeclaredTiers(p, kf)
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %q, want %d", tc.name, got, len(tc.want))
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%s: got %q, want prefix %q", tc.name, got[i], w)
			}
		}
	}
}
