package authz

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/policy"
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
		dir := t.TempDir()
		writeTestFile(t, filepath.Join(dir, "p.yaml"), "listeners: [{ name: l, port: 8080 }]\n"+tc.tiers)
		p, err := policy.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
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
