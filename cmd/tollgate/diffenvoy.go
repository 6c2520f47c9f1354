package main

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/xds"
)

// compareGroup translates both policies for a group as serve would and
// compares the resources type by type, by name.
func compareGroup(a, b *policy.Policy, group string, opts xds.Options) ([]resourceChange, error) {
	ra, err := xds.Translate(a, group, opts)
	if err != nil {
		return nil, fmt.Errorf("translating %s: %w", group, err)
	}
	rb, err := xds.Translate(b, group, opts)
	if err != nil {
		return nil, fmt.Errorf("translating %s: %w", group, err)
	}
	da, err := ra.Render(group)
	if err != nil {
		return nil, err
	}
	db, err := rb.Render(group)
	if err != nil {
		return nil, err
	}
	var out []resourceChange
	for _, k := range []struct {
		typ    string
		before []any
		after  []any
	}{
		{"listener", da.Listeners, db.Listeners},
		{"route", da.Routes, db.Routes},
		{"cluster", da.Clusters, db.Clusters},
		{"endpoint", da.Endpoints, db.Endpoints},
	} {
		out = append(out, compareResources(group, k.typ, byName(k.before), byName(k.after))...)
	}
	return append(out, compareSecrets(group, ra, rb)...), nil
}

// byName indexes rendered resources by name (an endpoint assignment's is
// its clusterName).
func byName(items []any) map[string]any {
	m := map[string]any{}
	for _, it := range items {
		fields, _ := it.(map[string]any)
		name, ok := fields["name"].(string)
		if !ok {
			name, _ = fields["clusterName"].(string)
		}
		m[name] = it
	}
	return m
}

// compareResources lists what was removed, added and changed, by name.
func compareResources(group, typ string, before, after map[string]any) []resourceChange {
	var out []resourceChange
	for _, name := range unionKeys(before, after) {
		a, inA := before[name]
		b, inB := after[name]
		c := resourceChange{Group: group, Type: typ, Name: name}
		switch {
		case !inB:
			c.Change = "removed"
		case !inA:
			c.Change = "added"
		default:
			diffValues("", a, b, &c.Fields)
			if len(c.Fields) == 0 {
				continue
			}
			c.Change = "changed"
		}
		out = append(out, c)
	}
	return out
}

// compareSecrets compares secrets by name, and their content only to say
// it changed: it is key material and never printed.
func compareSecrets(group string, a, b *xds.Resources) []resourceChange {
	before, after := map[string]proto.Message{}, map[string]proto.Message{}
	for _, s := range a.Secrets {
		before[s.GetName()] = s
	}
	for _, s := range b.Secrets {
		after[s.GetName()] = s
	}
	var out []resourceChange
	for _, name := range unionKeys(before, after) {
		sa, inA := before[name]
		sb, inB := after[name]
		c := resourceChange{Group: group, Type: "secret", Name: name}
		switch {
		case !inB:
			c.Change = "removed"
		case !inA:
			c.Change = "added"
		case !proto.Equal(sa, sb):
			c.Change = "changed" // content not shown
		default:
			continue
		}
		out = append(out, c)
	}
	return out
}

// unionKeys is the sorted union of two maps' keys.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
