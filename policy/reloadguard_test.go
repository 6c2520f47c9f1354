package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// routesPolicy is a valid policy with one listener (unless noListener) and
// the named routes, and extra YAML appended.
func routesPolicy(t *testing.T, noListener bool, extra string, routes ...string) *Policy {
	t.Helper()
	var b strings.Builder
	if !noListener {
		b.WriteString("listeners: [{ name: l, port: 8080 }]\n")
	}
	b.WriteString("services: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n")
	if len(routes) == 0 {
		b.Reset()
		if !noListener {
			b.WriteString("listeners: [{ name: l, port: 8080 }]\n")
		}
	}
	for _, r := range routes {
		fmt.Fprintf(&b, "  - { name: %s, match: { path_prefix: /%s }, to: a }\n", r, r)
	}
	b.WriteString(extra)
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": b.String()}))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReloadGuardRefusesDestructiveGenerations(t *testing.T) {
	four := routesPolicy(t, false, "", "a", "b", "c", "d")
	three := routesPolicy(t, false, "", "a", "b", "c")
	empty, err := Load(writePolicy(t, map[string]string{"p.yaml": ""}))
	if err != nil {
		t.Fatalf("an empty file must still load (the guard refuses it): %v", err)
	}
	cases := []struct {
		name          string
		serving, next *Policy
		reason        string // "" when applied
	}{
		{"empty file on first load", nil, empty, GuardNoListeners},
		{"empty file over a serving policy", four, empty, GuardNoListeners},
		{"no listeners allowed on purpose", four, routesPolicy(t, true, "reload_guard: { allow_no_listeners: true, max_removed_routes_percent: 100 }\n"), ""},
		{"three of four routes removed", four, routesPolicy(t, false, "", "a"), GuardRoutesRemoved},
		{"renaming every route", four, routesPolicy(t, false, "", "w", "x", "y", "z"), GuardRoutesRemoved},
		{"half of the routes removed", four, routesPolicy(t, false, "", "a", "b"), ""},
		{"most routes removed on purpose", four, routesPolicy(t, false, "reload_guard: { max_removed_routes_percent: 100 }\n", "a"), ""},
		{"a stricter guard", four, routesPolicy(t, false, "reload_guard: { max_removed_routes_percent: 0 }\n", "a", "b", "c"), GuardRoutesRemoved},
		{"small policies are rewritten freely", three, routesPolicy(t, false, "", "x"), ""},
		{"first load with routes", nil, four, ""},
		{"adding routes", three, four, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckReload(c.serving, c.next)
			var ge *GuardError
			switch {
			case c.reason == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.reason != "" && !errors.As(err, &ge):
				t.Errorf("applied (err %v), want refused for %s", err, c.reason)
			case c.reason != "" && ge.Reason != c.reason:
				t.Errorf("reason %q, want %q: %v", ge.Reason, c.reason, err)
			case c.reason != "" && !strings.Contains(err.Error(), "to apply it on purpose"):
				t.Errorf("the error must say how to apply it on purpose: %v", err)
			}
		})
	}
}

func TestReloadGuardErrorNamesTheRemovedRoutes(t *testing.T) {
	err := CheckReload(routesPolicy(t, false, "", "a", "b", "c", "d"), routesPolicy(t, false, "", "d"))
	for _, want := range []string{"removes 3 of the 4 serving routes (a, b, c)", "max_removed_routes_percent: 100"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestReloadGuardSectionIsStrict(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"bad.yaml": "listeners: [{ name: l, port: 8080 }]\nreload_guard: { max_removed_routes_percent: 101, allow_no_listener: true }\n---\nreload_guard: {}\n",
	})
	checkErrors(t, dir, []string{
		`2:45: reload_guard.max_removed_routes_percent: must be between 0 and 100, got 101`,
		`2:50: reload_guard.allow_no_listener: unknown field "allow_no_listener"`,
		`4:15: reload_guard: reload_guard is already defined at`,
	})
}
