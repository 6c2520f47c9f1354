package main

import (
	"reflect"

	"github.com/tollgate/tollgate/policy"
)

// comparePolicyTerms compares what Tollgate enforces itself and Envoy's
// resources only point at: each route's auth and rate limits, the rate
// limits and tiers, and the auth section.
func comparePolicyTerms(a, b *policy.Policy) []policyChange {
	var out []policyChange
	out = append(out, compareNamed("route", routeTerms(a), routeTerms(b))...)
	out = append(out, compareNamed("rate_limit", plainMap(a.RateLimits), plainMap(b.RateLimits))...)
	out = append(out, compareNamed("tier", plainMap(a.Tiers), plainMap(b.Tiers))...)
	auth := func(p *policy.Policy) map[string]any {
		if p.Auth == nil {
			return map[string]any{}
		}
		return map[string]any{"auth": plainPolicy(reflect.ValueOf(p.Auth))}
	}
	return append(out, compareNamed("auth", auth(a), auth(b))...)
}

// routeTerms gives each route's auth and rate limits, by route name.
func routeTerms(p *policy.Policy) map[string]any {
	m := map[string]any{}
	for _, r := range p.Routes {
		terms := map[string]any{}
		if r.Auth != nil {
			terms["auth"] = plainPolicy(reflect.ValueOf(r.Auth))
		}
		if len(r.RateLimits) > 0 {
			terms["rate_limits"] = plainPolicy(reflect.ValueOf(r.RateLimits))
		}
		m[r.Name] = terms
	}
	return m
}

// plainMap renders each value of a policy map as plain data.
func plainMap[V any](m map[string]V) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = plainPolicy(reflect.ValueOf(v))
	}
	return out
}

// compareNamed lists what was removed, added and changed, by name; an
// added or removed item carries its content as one field change.
func compareNamed(kind string, before, after map[string]any) []policyChange {
	var out []policyChange
	for _, name := range unionKeys(before, after) {
		a, inA := before[name]
		b, inB := after[name]
		c := policyChange{Kind: kind, Name: name}
		switch {
		case !inB:
			c.Change = "removed"
		case !inA:
			c.Change = "added"
		default:
			c.Change = "changed"
		}
		// Against nothing, an added or removed item lists its fields.
		diffValues("", orEmpty(a), orEmpty(b), &c.Fields)
		if c.Change == "changed" && len(c.Fields) == 0 {
			continue
		}
		out = append(out, c)
	}
	return out
}

// orEmpty is v, or an empty map when v is nil, so that a map against
// nothing compares key by key.
func orEmpty(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}
