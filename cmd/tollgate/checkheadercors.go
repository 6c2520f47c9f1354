package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// The header changes and the CORS policy `tollgate check` reports for a
// request: the listener's and the route's, in the order Envoy applies
// them, and what Envoy answers a browser's preflight.

// checkCORS is the cors setting that applies to a request.
type checkCORS struct {
	From        string   `json:"from"` // "listener NAME" or "route NAME"
	Origins     []string `json:"allow_origins"`
	Methods     []string `json:"allow_methods,omitempty"`
	Headers     []string `json:"allow_headers,omitempty"`
	Expose      []string `json:"expose_headers,omitempty"`
	Credentials bool     `json:"allow_credentials,omitempty"`
	MaxAge      string   `json:"max_age,omitempty"`
	// Preflight says what Envoy answers when the request is a preflight.
	Preflight string `json:"preflight,omitempty"`
}

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

// describeCORS is the cors setting for a request, or nil when none applies.
func describeCORS(l *policy.Listener, r *policy.Route, req policy.Request) *checkCORS {
	c := policy.CORSFor(l, r)
	if c == nil {
		return nil
	}
	out := &checkCORS{From: "route " + r.Name, Origins: c.AllowOrigins, Methods: c.AllowMethods,
		Headers: c.AllowHeaders, Expose: c.ExposeHeaders, Credentials: c.AllowCredentials, MaxAge: optionalDuration(c.MaxAge)}
	if r.CORS == nil {
		out.From = "listener " + l.Name
	}
	origin, method := firstHeader(req, "origin"), firstHeader(req, "access-control-request-method")
	if req.Method == "OPTIONS" && origin != "" && method != "" {
		out.Preflight = "Envoy answers it (200) without Access-Control-Allow-Origin: the origin is not allowed"
		if c.AllowsOrigin(origin) {
			out.Preflight = "Envoy answers it (200), allowing the origin"
		}
		out.Preflight += "; it never reaches auth, limits or the service"
	}
	return out
}

func firstHeader(req policy.Request, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// printHeadersAndCORS writes the lines of printed results.
func (r *checkRoute) printHeadersAndCORS(w io.Writer) {
	for i, h := range r.HeaderChanges {
		label := "headers:  "
		if i > 0 {
			label = "          "
		}
		fmt.Fprintln(w, label, h)
	}
	c := r.CORS
	if c == nil {
		return
	}
	s := "origins " + strings.Join(c.Origins, ", ")
	for _, part := range []struct{ name, v string }{
		{"methods", strings.Join(c.Methods, ", ")}, {"headers", strings.Join(c.Headers, ", ")},
		{"expose", strings.Join(c.Expose, ", ")}, {"max age", c.MaxAge},
	} {
		if part.v != "" {
			s += "; " + part.name + " " + part.v
		}
	}
	if c.Credentials {
		s += "; credentials"
	}
	fmt.Fprintf(w, "cors:      %s (%s)\n", s, c.From)
	if c.Preflight != "" {
		fmt.Fprintf(w, "preflight: %s\n", c.Preflight)
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
