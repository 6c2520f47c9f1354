package preflight

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// The rate-limit items. The checklist asks for limits "at both per-IP and
// per-key granularity, with separate limits for authenticated and
// unauthenticated traffic"; read per route, because routes name the
// limits that apply to them:
//
//   - a route anonymous callers reach needs a per-IP limit (key has
//     client_ip) that counts them: when "" or anonymous;
//   - a route that takes credentials needs a per-key limit (key has
//     client_id or user) that counts them: when "" or authenticated;
//   - a route that takes both needs them separate: the per-IP one with
//     when: anonymous and the per-key one with when: authenticated, so
//     that a key holder is not held to the anonymous budget and an
//     anonymous caller not given the key holders' one.
//
// Shadow limits refuse nothing, so they count for neither.

func checkRateLimits(p *policy.Policy) Result {
	var f findings
	checked := 0
	for _, r := range p.Routes {
		if !forwards(r) {
			continue
		}
		checked++
		limits := enforced(p.RateLimitsFor(r))
		anon, cred := anonymousReach(r), credentialReach(r)
		at := r.At("rate_limits")
		if anon && !slices.ContainsFunc(limits, func(l *policy.RateLimit) bool { return perIP(l) && countsAnonymous(l, cred) }) {
			f.add(at, "route %s lets anonymous callers in without a per-IP limit for them: name a limit with key [client_ip]%s in rate_limits", r.Name, whenHint(cred, policy.WhenAnonymous))
		}
		if cred && !slices.ContainsFunc(limits, func(l *policy.RateLimit) bool { return perKey(l) && countsAuthenticated(l, anon) }) {
			f.add(at, "route %s takes credentials without a per-key limit for them: name a limit with key [client_id]%s in rate_limits", r.Name, whenHint(anon, policy.WhenAuthenticated))
		}
	}
	return f.result("rate-limits", "per-IP and per-key rate limits, separate for anonymous and authenticated callers",
		fmt.Sprintf("%d routes checked", checked))
}

func whenHint(both bool, when string) string {
	if both {
		return " and when: " + when + " (the route takes both kinds of caller, so each needs its own limit)"
	}
	return ""
}

// enforced drops shadow limits, which never refuse a request.
func enforced(ls []*policy.RateLimit) []*policy.RateLimit {
	return slices.DeleteFunc(slices.Clone(ls), func(l *policy.RateLimit) bool { return l.Shadow })
}

func hasKey(l *policy.RateLimit, dims ...policy.KeyDimension) bool {
	return slices.ContainsFunc(l.Parts, func(k policy.KeyPart) bool { return slices.Contains(dims, k.Dimension) })
}

func perIP(l *policy.RateLimit) bool { return hasKey(l, policy.KeyClientIP) }

func perKey(l *policy.RateLimit) bool { return hasKey(l, policy.KeyClientID, policy.KeyUser) }

// countsAnonymous: the limit applies to anonymous callers, and only to
// them when the route takes key holders too (separate).
func countsAnonymous(l *policy.RateLimit, separate bool) bool {
	if len(l.Tiers) > 0 {
		return false
	}
	return l.When == policy.WhenAnonymous || (!separate && l.When == "")
}

// countsAuthenticated: the limit applies to every authenticated caller
// (tiers are on top of it), and only to them when anonymous callers
// come in too.
func countsAuthenticated(l *policy.RateLimit, separate bool) bool {
	if len(l.Tiers) > 0 {
		return false
	}
	return l.When == policy.WhenAuthenticated || (!separate && l.When == "")
}

// checkImpossibleLimits finds tier limits no client can reach: a route
// names a per-key limit every authenticated caller passes and a tier's
// per-key limit that admits more, so the plan's extra never arrives
// (a gold tier at 100/s under a 1000/min limit for every key gives gold
// clients 1000/min). Limits are compared by their long-run rate.
func checkImpossibleLimits(p *policy.Policy) Result {
	var f findings
	seen := map[[2]string]bool{}
	compared := 0
	for _, r := range p.Routes {
		limits := enforced(p.RateLimitsFor(r))
		for _, base := range limits {
			if !perKey(base) || !countsAuthenticated(base, false) {
				continue
			}
			for _, tier := range limits {
				pair := [2]string{base.Name, tier.Name}
				if len(tier.Tiers) == 0 || !perKey(tier) || seen[pair] {
					continue
				}
				seen[pair] = true
				compared++
				if perSecond(tier) <= perSecond(base) {
					continue
				}
				f.add(algorithmPos(tier), "limit %s of tier %s admits %s per client, above limit %s (%s, at %s) which every authenticated request of route %s also passes: the tier's limit is never reached; lower it or raise %s",
					tier.Name, strings.Join(tier.Tiers, ", "), rateText(tier), base.Name, rateText(base), base.Pos(), r.Name, base.Name)
			}
		}
	}
	return f.result("impossible-limits", "no tier limit above the per-key limit it sits under",
		fmt.Sprintf("%d tier limits compared with their per-key limits", compared))
}

// perSecond is a limit's long-run rate.
func perSecond(l *policy.RateLimit) float64 {
	switch {
	case l.TokenBucket != nil:
		return float64(l.TokenBucket.Rate.Count) / l.TokenBucket.Rate.Per.Seconds()
	case l.SlidingWindow != nil:
		return float64(l.SlidingWindow.Limit) / l.SlidingWindow.Window.D().Seconds()
	case l.FixedWindow != nil:
		return float64(l.FixedWindow.Limit) / l.FixedWindow.Window.D().Seconds()
	}
	return 0
}

// rateText is a limit's numbers as a policy writes them: 100/s, 1000/m.
func rateText(l *policy.RateLimit) string {
	switch {
	case l.TokenBucket != nil:
		return perText(l.TokenBucket.Rate.Count, l.TokenBucket.Rate.Per)
	case l.SlidingWindow != nil:
		return perText(l.SlidingWindow.Limit, l.SlidingWindow.Window.D())
	case l.FixedWindow != nil:
		return perText(l.FixedWindow.Limit, l.FixedWindow.Window.D())
	}
	return "?"
}

func perText(n int, d time.Duration) string {
	switch d {
	case time.Second:
		return fmt.Sprintf("%d/s", n)
	case time.Minute:
		return fmt.Sprintf("%d/m", n)
	case time.Hour:
		return fmt.Sprintf("%d/h", n)
	}
	return fmt.Sprintf("%d/%v", n, d)
}

// algorithmPos is where the limit's numbers are written.
func algorithmPos(l *policy.RateLimit) policy.Pos {
	return l.At(string(l.Algorithm()))
}

// capacity is the most requests one counter of the limit admits in d:
// a full bucket plus its refill; for windows, every window d touches
// (a fixed window's boundary may fall inside d: one more).
func capacity(l *policy.RateLimit, d time.Duration) float64 {
	switch {
	case l.TokenBucket != nil:
		return float64(l.TokenBucket.Burst) + perSecond(l)*d.Seconds()
	case l.SlidingWindow != nil:
		return float64(l.SlidingWindow.Limit) * float64(int(d/l.SlidingWindow.Window.D())+1)
	case l.FixedWindow != nil:
		return float64(l.FixedWindow.Limit) * float64(int(d/l.FixedWindow.Window.D())+2)
	}
	return 0
}
