package authz

import (
	"fmt"
	"maps"
	"slices"

	"github.com/tollgate/tollgate/policy"
)

// UndeclaredTiers lists the API keys whose tier the policy's tiers section
// does not declare. Such a key's x-tollgate-tier matches no tier limit, so
// a typo ("glod") would quietly exempt it from its plan's limits. Not an
// error: the keys file may run ahead of the policy (a key for a plan about
// to be added), so `tollgate validate` and serve warn instead. Nothing is
// listed when the policy declares no tiers.
func UndeclaredTiers(p *policy.Policy, kf *KeysFile) []string {
	if len(p.Tiers) == 0 {
		return nil
	}
	var out []string
	for _, k := range kf.Keys {
		if k.Tier != "" && p.Tiers[k.Tier] == nil {
			out = append(out, fmt.Sprintf("key %q has tier %q, which tiers: does not declare (declared: %v); no tier limit applies to it", k.ID, k.Tier, slices.Sorted(maps.Keys(p.Tiers))))
		}
	}
	slices.Sort(out)
	return out
}
