package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// The header changes `tollgate check` reports for a request: the
// listener's and the route's, in the order Envoy applies them.

// describeHeaderChanges lists the header changes a request gets, each as
// "request set x-a: VALUE (listener public)", the listener's first.
func describeHeaderChanges(l *policy.Listener, r *policy.Route) []string {
	var out []string
	if l != nil {
		out = append(out, headerChangeLines(l.Headers, "listener "+l.Name)...)
	}
	return append(out, headerChangeLines(r.Headers, "route "+r.Name)...)
}

func headerChangeLines(h *policy.HeaderChanges, from string) []string {
	if h == nil {
		return nil
	}
	var out []string
	for _, dir := range []struct {
		name string
		set  *policy.HeaderChangeSet
	}{{"request", h.Request}, {"response", h.Response}} {
		if dir.set.Empty() {
			continue
		}
		for _, name := range dir.set.Remove {
			out = append(out, fmt.Sprintf("%s remove %s (%s)", dir.name, strings.ToLower(name), from))
		}
		for _, hv := range dir.set.Set {
			out = append(out, fmt.Sprintf("%s set %s: %q (%s)", dir.name, strings.ToLower(hv.Name), hv.Value, from))
		}
		for _, hv := range dir.set.Add {
			out = append(out, fmt.Sprintf("%s add %s: %q (%s)", dir.name, strings.ToLower(hv.Name), hv.Value, from))
		}
	}
	return out
}

// printHeaderChanges writes the lines of printed results.
func (r *checkRoute) printHeaderChanges(w io.Writer) {
	for i, h := range r.HeaderChanges {
		label := "headers:  "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintln(w, label, h)
	}
}

// findListener is the listener a checked request arrived on (check always
// names it), or nil.
func findListener(p *policy.Policy, name string) *policy.Listener {
	for _, l := range p.Listeners {
		if l.Name == name {
			return l
		}
	}
	return nil
}
