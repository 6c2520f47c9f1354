package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// fieldChange is one leaf that differs between two versions of a
// resource: From is absent (nil) for an added field, To for a removed one.
type fieldChange struct {
	Path string `json:"path"`
	From any    `json:"from"`
	To   any    `json:"to"`
}

// diffValues compares two plain-data trees (maps, lists, scalars) and
// appends a change for each differing leaf. Lists whose elements all have
// a unique "name" are matched by name (virtual hosts, routes, filters), so
// that inserting one element reports one change rather than a shifted
// tail; other lists are compared index by index.
func diffValues(path string, a, b any, out *[]fieldChange) {
	if reflect.DeepEqual(a, b) {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		diffMaps(path, am, bm, out)
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok {
		diffLists(path, al, bl, out)
		return
	}
	*out = append(*out, fieldChange{Path: path, From: a, To: b})
}

func diffMaps(path string, a, b map[string]any, out *[]fieldChange) {
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
	for _, k := range keys {
		diffValues(joinPath(path, k), a[k], b[k], out)
	}
}

func diffLists(path string, a, b []any, out *[]fieldChange) {
	an, bn := elementNames(a), elementNames(b)
	if an == nil || bn == nil {
		for i := range max(len(a), len(b)) {
			diffValues(fmt.Sprintf("%s[%d]", path, i), at(a, i), at(b, i), out)
		}
		return
	}
	for i, name := range an {
		j := slices.Index(bn, name)
		diffValues(fmt.Sprintf("%s[%s]", path, name), a[i], at(b, j), out)
	}
	for j, name := range bn {
		if !slices.Contains(an, name) {
			diffValues(fmt.Sprintf("%s[%s]", path, name), nil, b[j], out)
		}
	}
}

// elementNames returns the "name" of every element of a list, or nil
// when some element has none or two share one.
func elementNames(list []any) []string {
	names := make([]string, 0, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil
		}
		name, ok := m["name"].(string)
		if !ok || name == "" || slices.Contains(names, name) {
			return nil
		}
		names = append(names, name)
	}
	return names
}

// at is list[i], or nil when i is out of range.
func at(list []any, i int) any {
	if i < 0 || i >= len(list) {
		return nil
	}
	return list[i]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// compact renders a value on one line, cut to width: enough to recognise
// a change in a terminal (--json has it whole).
func compact(v any, width int) string {
	if v == nil {
		return "(none)"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > width {
		s = s[:width-3] + "..."
	}
	return s
}

var durationT = reflect.TypeFor[policy.Duration]()

// plainPolicy renders a policy struct as plain data by its yaml tags, as
// a policy file would write it: fields tagged "-" (positions, file
// contents) and zero values are left out, durations read as "1.5s".
func plainPolicy(v reflect.Value) any {
	if v.Type() == durationT {
		return v.Interface().(policy.Duration).D().String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return plainPolicy(v.Elem())
	case reflect.Struct:
		return plainStruct(v)
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return nil // file contents: not for display
		}
		list := make([]any, v.Len())
		for i := range list {
			list[i] = plainPolicy(v.Index(i))
		}
		return list
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = plainPolicy(v.MapIndex(k))
		}
		return m
	default:
		return v.Interface()
	}
}

func plainStruct(v reflect.Value) any {
	m := map[string]any{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || tag == "-" || tag == "" || v.Field(i).IsZero() {
			continue
		}
		m[tag] = plainPolicy(v.Field(i))
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
