package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// checkInputs are the request limits and client address lists that apply
// to a request on its listener and route (request_limits, client_ips).
type checkInputs struct {
	MaxHeaders   string   `json:"max_headers"` // the listener's, or Envoy's 60KiB
	envoyHeaders bool     // MaxHeaders is Envoy's own: nothing configured
	MaxBody      string   `json:"max_body,omitempty"`
	Methods      []string `json:"methods,omitempty"`
	ContentTypes []string `json:"content_types,omitempty"`
	// ClientIPs are the listener's and the route's lists, each as
	// "listener allows ...", "route denies ...".
	ClientIPs []string `json:"client_ips,omitempty"`
}

// describeInputs lists the request limits and address lists of route r on
// listener l.
func describeInputs(p *policy.Policy, l *policy.Listener, r *policy.Route) *checkInputs {
	in := &checkInputs{MaxHeaders: policy.FormatByteSize(policy.EnvoyMaxHeaders) + " (Envoy's)", envoyHeaders: true}
	if l.RequestLimits != nil && l.RequestLimits.MaxHeadersBytes > 0 {
		in.envoyHeaders = false
		in.MaxHeaders = policy.FormatByteSize(l.RequestLimits.MaxHeadersBytes) + " (listener)"
	}
	if n := p.MaxBodyFor(l, r); n > 0 {
		from := "listener"
		if r.RequestLimits != nil && r.RequestLimits.MaxBodyBytes > 0 {
			from = "route"
		}
		in.MaxBody = fmt.Sprintf("%s (%s)", policy.FormatByteSize(n), from)
	}
	if rl := r.RequestLimits; rl != nil {
		in.Methods, in.ContentTypes = rl.Methods, rl.ContentTypes
	}
	in.ClientIPs = append(describeIPs("listener", l.ClientIPs), describeIPs("route", r.ClientIPs)...)
	return in
}

func describeIPs(owner string, c *policy.ClientIPs) []string {
	var out []string
	if c != nil && len(c.Allow) > 0 {
		out = append(out, owner+" allows "+strings.Join(c.Allow, ", "))
	}
	if c != nil && len(c.Deny) > 0 {
		out = append(out, owner+" denies "+strings.Join(c.Deny, ", "))
	}
	return out
}

// refuseAddress sets the 403 Envoy answers when the client's address, as
// the listener resolves it, fails the listener's or the route's lists.
func refuseAddress(res *checkResult, l *policy.Listener, r *policy.Route, addr netip.Addr) {
	for _, c := range []struct {
		owner string
		ips   *policy.ClientIPs
	}{{"listener " + l.Name, l.ClientIPs}, {"route " + r.Name, r.ClientIPs}} {
		if !c.ips.Allows(addr) {
			res.Status = 403
			res.Reason = fmt.Sprintf("client address %s is refused by %s's client_ips: Envoy answers 403 before authentication and limits", addr, c.owner)
			return
		}
	}
}

// printInputs writes the request limits and address lists for a person,
// when the policy sets any.
func printInputs(w io.Writer, in *checkInputs) {
	if in.envoyHeaders && in.MaxBody == "" && len(in.Methods) == 0 && len(in.ContentTypes) == 0 && len(in.ClientIPs) == 0 {
		return
	}
	s := "headers at most " + in.MaxHeaders
	if in.MaxBody != "" {
		s += "; body at most " + in.MaxBody
	}
	if len(in.Methods) > 0 {
		s += "; methods " + strings.Join(in.Methods, ", ") + " (else 405)"
	}
	if len(in.ContentTypes) > 0 {
		s += "; content types " + strings.Join(in.ContentTypes, ", ") + " (else 415)"
	}
	fmt.Fprintf(w, "inputs:    %s\n", s)
	if len(in.ClientIPs) > 0 {
		fmt.Fprintf(w, "addresses: %s (else 403)\n", strings.Join(in.ClientIPs, "; "))
	}
}
