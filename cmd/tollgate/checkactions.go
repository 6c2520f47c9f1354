package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// checkActions is what a route does besides choosing a service: the
// upgrades it allows, how it rewrites the request, or the redirect or
// response Envoy answers with, and its deprecation headers.
type checkActions struct {
	Upgrades []string `json:"upgrades,omitempty"`
	// ServicePath and ServiceHost are what the service receives when the
	// route rewrites them.
	ServicePath string         `json:"service_path,omitempty"`
	ServiceHost string         `json:"service_host,omitempty"`
	Redirect    *checkRedirect `json:"redirect,omitempty"`
	Respond     *checkRespond  `json:"respond,omitempty"`
	// Deprecation are the headers every response of the route carries.
	Deprecation []string `json:"deprecation,omitempty"`
}

type checkRedirect struct {
	Status   int    `json:"status"`
	Location string `json:"location"`
}

type checkRespond struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
}

// describeActions says what the route does with the request whose
// target, as Envoy matched it, is path.
func describeActions(p *policy.Policy, r *policy.Route, req policy.Request, path string) checkActions {
	out := checkActions{Upgrades: r.Upgrades}
	if rw := r.Rewrite; rw != nil {
		if rw.PathPrefix != "" || rw.PathRegex != nil {
			out.ServicePath = r.ServicePath(path)
		}
		out.ServiceHost = rw.Host
		if rw.AutoHost {
			out.ServiceHost = "(the DNS name of the endpoint Envoy picks)"
		}
	}
	if rd := r.Redirect; rd != nil {
		out.Redirect = &checkRedirect{Status: rd.Status, Location: r.RedirectLocation(p.Scheme(req.Listener), req.Host, path)}
	}
	if d := r.Respond; d != nil {
		out.Respond = &checkRespond{Status: d.Status, ContentType: d.ContentType, Body: d.Body}
	}
	if r.Deprecation != nil {
		for _, h := range r.Deprecation.Headers() {
			out.Deprecation = append(out.Deprecation, h[0]+": "+h[1])
		}
	}
	return out
}

// printActions writes the actions that apply, one line each.
func (a checkActions) printActions(w io.Writer) {
	if a.Redirect != nil {
		fmt.Fprintf(w, "redirect:  %d to %s (Envoy answers; no service is called)\n", a.Redirect.Status, a.Redirect.Location)
	}
	if d := a.Respond; d != nil {
		line := fmt.Sprintf("respond:   %d (Envoy answers; no service is called)", d.Status)
		if d.Body != "" {
			line += fmt.Sprintf(", %s, %d-byte body", d.ContentType, len(d.Body))
		}
		fmt.Fprintln(w, line)
	}
	if a.ServicePath != "" {
		fmt.Fprintf(w, "rewrite:   the service receives path %s\n", a.ServicePath)
	}
	if a.ServiceHost != "" {
		fmt.Fprintf(w, "rewrite:   the service receives Host %s\n", a.ServiceHost)
	}
	if a.Redirect == nil && a.Respond == nil {
		upgrades := "none (an upgrade request gets 403)"
		if len(a.Upgrades) > 0 {
			upgrades = strings.Join(a.Upgrades, ", ")
		}
		fmt.Fprintf(w, "upgrades:  %s\n", upgrades)
	}
	for i, h := range a.Deprecation {
		label := "headers:   "
		if i > 0 {
			label = "           "
		}
		fmt.Fprintln(w, label+h)
	}
}
