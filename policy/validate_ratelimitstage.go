package policy

import (
	"fmt"
	"strings"
)

// limitStages checks each limit's stage, and that a before_auth limit uses
// only what is known before authentication: no identity condition, no
// identity key, no tier. It runs after the limits and tiers are validated
// (it reads Parts and Tiers).
func (v *validator) limitStages() {
	for _, name := range sortedKeys(v.p.RateLimits) {
		l := v.p.RateLimits[name]
		path := mapPath("rate_limits", name)
		switch l.Stage {
		case "", StageAfterAuth:
			continue
		case StageBeforeAuth:
		default:
			v.errorf(l.At("stage"), path+".stage", "unknown stage %q; expected before_auth or after_auth", l.Stage)
			continue
		}
		if l.When != "" {
			v.errorf(l.At("when"), path+".when", "a before_auth limit cannot say when: %s: the caller is not known before authentication; remove when or the stage", l.When)
		}
		for i, part := range l.Parts {
			if IdentityHeader(part.Dimension) != "" {
				v.errorf(l.At("key"), fmt.Sprintf("%s.key[%d]", path, i), "a before_auth limit cannot count by %s, which authentication establishes; use client_ip, route or header:NAME", part)
			}
		}
		v.beforeAuthTiers(l, path)
	}
}

// beforeAuthTiers reports the tiers that list a before_auth limit: a tier
// is an identity condition too.
func (v *validator) beforeAuthTiers(l *RateLimit, path string) {
	var tiers []string
	for _, name := range sortedKeys(v.p.Tiers) {
		for _, n := range v.p.Tiers[name].RateLimits {
			if n == l.Name {
				tiers = append(tiers, name)
			}
		}
	}
	if len(tiers) > 0 {
		v.errorf(l.At("stage"), path+".stage", "a before_auth limit cannot belong to a tier (listed by tiers: %s): tiers are known only after authentication", strings.Join(tiers, ", "))
	}
}
