package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// checkResult is what `tollgate check` says about a request; --json prints
// it as is, so its field names are part of the command's interface.
type checkResult struct {
	Listener string `json:"listener"`
	Method   string `json:"method"`
	Host     string `json:"host"`
	Path     string `json:"path"`
	// MatchedPath is the path (and query) as Envoy matches it, after its
	// normalization; Redirect says Envoy first redirects the client there.
	MatchedPath string `json:"matched_path,omitempty"`
	Redirect    bool   `json:"redirect,omitempty"`
	// Route is nil when no route matches; Status and Reason then say what
	// Envoy answers.
	Route  *checkRoute `json:"route,omitempty"`
	Status int         `json:"status,omitempty"`
	Reason string      `json:"reason,omitempty"`
}

type checkRoute struct {
	Name          string           `json:"name"`
	Source        string           `json:"source"` // file:line:col
	Match         []string         `json:"match"`
	To            []checkDest      `json:"to"`
	Timeout       string           `json:"timeout"`
	PerTryTimeout string           `json:"per_try_timeout,omitempty"`
	IdleTimeout   string           `json:"idle_timeout,omitempty"`
	RetrySummary  string           `json:"retries"`
	Auth          checkAuth        `json:"auth"`
	RateLimits    []checkRateLimit `json:"rate_limits"`
	// RateLimitHeaders is the policy's rate_limit_headers, when limits apply.
	RateLimitHeaders string `json:"rate_limit_headers,omitempty"`
	// Mirror, Fault and Compression: see checktraffic.go.
	Mirror       string `json:"mirror,omitempty"`
	Fault        string `json:"fault,omitempty"`
	Compression  string `json:"compression"`
	checkActions        // checkactions.go
	// HeaderChanges and CORS: checkheadercors.go.
	HeaderChanges []string   `json:"header_changes,omitempty"`
	CORS          *checkCORS `json:"cors,omitempty"`
	// OneCall: the limits are decided in the ext_authz call
	// (limit_calls.one_call), not by the rate-limit filters.
	OneCall bool         `json:"one_call,omitempty"`
	Inputs  *checkInputs `json:"inputs"` // checklimits.go
}

type checkDest struct {
	Service string  `json:"service"`
	Weight  int     `json:"weight"`
	Percent float64 `json:"percent"`
}

type checkAuth struct {
	// Public: no authorization call.
	Public bool     `json:"public"`
	Accept []string `json:"accept,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	Roles  []string `json:"roles,omitempty"`
}

type checkRateLimit struct {
	Name      string   `json:"name"`
	Stage     string   `json:"stage"`
	Key       []string `json:"key"`
	Algorithm string   `json:"algorithm"`
	Limit     string   `json:"limit"`
	When      string   `json:"when,omitempty"`
	Shadow    bool     `json:"shadow,omitempty"`
	Headers   bool     `json:"headers,omitempty"`
}

// explain matches the request and describes the route that handles it,
// or why none does.
func explain(p *policy.Policy, req policy.Request, refused *policy.Refusal) *checkResult {
	res := &checkResult{Listener: req.Listener, Method: req.Method, Host: req.Host, Path: req.Path}
	if refused != nil {
		res.Status, res.Reason = refused.Status, refused.Error()
		return res
	}
	d := p.Decide(req)
	res.MatchedPath, res.Redirect = d.Path, d.Redirect
	if d.Route == nil {
		res.Status, res.Reason = d.Status, d.Reason
		if d.Status == 400 {
			res.Reason = (&policy.Refusal{Status: 400, Reason: d.Reason}).Error()
		}
		return res
	}
	res.Route = describeRoute(p, d.Route)
	res.Route.describeTraffic(p, req.Listener, d.Route)
	res.Route.checkActions = describeActions(p, d.Route, req, d.Path)
	l := findListener(p, req.Listener)
	res.Route.HeaderChanges, res.Route.CORS = describeHeaderChanges(l, d.Route), describeCORS(l, d.Route, req)
	if d.Status != 0 && !d.Redirect { // refused by the route's request_limits
		res.Status, res.Reason = d.Status, d.Reason
	}
	return res
}

func describeRoute(p *policy.Policy, r *policy.Route) *checkRoute {
	out := &checkRoute{
		Name:          r.Name,
		Source:        r.Pos().String(),
		Match:         describeMatch(&r.Match),
		Timeout:       p.RouteTimeout(r).String(),
		PerTryTimeout: optionalDuration(r.PerTryTimeout),
		IdleTimeout:   optionalDuration(r.IdleTimeout),
		RetrySummary:  describeRetries(r.Retries),
		Auth:          checkAuth{Public: true},
		RateLimits:    []checkRateLimit{},
		OneCall:       p.LimitsWithAuth(r),
	}
	total := 0
	for _, d := range r.To {
		total += d.Weight
	}
	for _, d := range r.To {
		share := 100.0
		if len(r.To) > 1 && total > 0 {
			share = float64(d.Weight) * 100 / float64(total)
		}
		out.To = append(out.To, checkDest{Service: d.Service, Weight: d.Weight, Percent: share})
	}
	if a := r.Auth; a != nil && !a.Public {
		out.Auth = checkAuth{Accept: a.Accept, Scopes: a.Scopes, Roles: a.Roles}
	}
	for _, l := range p.RateLimitsFor(r) {
		out.RateLimits = append(out.RateLimits, describeLimit(l))
	}
	if len(out.RateLimits) > 0 {
		out.RateLimitHeaders = string(p.RateLimitHeaders.Format)
	}
	return out
}

// describeMatch lists the conditions of a match, each of which held.
func describeMatch(m *policy.Match) []string {
	var out []string
	switch {
	case m.Path != "":
		out = append(out, fmt.Sprintf("path %s (any case)", m.Path))
	case m.PathRegex != "":
		out = append(out, fmt.Sprintf("path_regex %s (whole path)", m.PathRegex))
	default:
		out = append(out, fmt.Sprintf("path_prefix %s (any case)", m.PathPrefix))
	}
	if len(m.Hosts) > 0 {
		out = append(out, "hosts "+strings.Join(m.Hosts, ", "))
	}
	if len(m.Methods) > 0 {
		out = append(out, "methods "+strings.Join(m.Methods, ", "))
	}
	for _, h := range m.Headers {
		out = append(out, "header "+describeValue(h))
	}
	for _, q := range m.Query {
		out = append(out, "query "+describeValue(q))
	}
	return out
}

func describeValue(v *policy.ValueMatch) string {
	switch {
	case v.Present != nil && *v.Present:
		return v.Name + " present"
	case v.Present != nil:
		return v.Name + " absent"
	case v.Regex != "":
		return fmt.Sprintf("%s matches %s", v.Name, v.Regex)
	}
	return fmt.Sprintf("%s = %q", v.Name, v.Exact)
}

func describeRetries(rt *policy.Retries) string {
	if rt == nil {
		return "none"
	}
	s := fmt.Sprintf("%d on %s", rt.Attempts, strings.Join(rt.On, ", "))
	if len(rt.RetriableStatusCodes) > 0 {
		codes := make([]string, len(rt.RetriableStatusCodes))
		for i, c := range rt.RetriableStatusCodes {
			codes[i] = strconv.Itoa(c)
		}
		s += ", statuses " + strings.Join(codes, ", ")
	}
	s += "; " + strings.Join(policy.IdempotentMethods, ", ") + " only"
	if rt.AllowWithIdempotencyKey {
		s += ", or any method with Idempotency-Key"
	}
	return s
}

func describeLimit(l *policy.RateLimit) checkRateLimit {
	out := checkRateLimit{
		Name:      l.Name,
		Stage:     string(l.Stage),
		Key:       l.Key,
		Algorithm: string(l.Algorithm()),
		When:      l.When,
		Shadow:    l.Shadow,
		Headers:   l.Headers,
	}
	if out.Key == nil {
		out.Key = []string{}
	}
	if out.When == "" && len(l.Tiers) > 0 {
		out.When = policy.WhenTierPrefix + strings.Join(l.Tiers, ", ")
	}
	switch {
	case l.TokenBucket != nil:
		out.Limit = fmt.Sprintf("%s, burst %d", l.TokenBucket.Rate, l.TokenBucket.Burst)
	case l.SlidingWindow != nil:
		out.Limit = fmt.Sprintf("%d per %s", l.SlidingWindow.Limit, l.SlidingWindow.Window.D())
	case l.FixedWindow != nil:
		out.Limit = fmt.Sprintf("%d per %s", l.FixedWindow.Limit, l.FixedWindow.Window.D())
	}
	return out
}

func optionalDuration(d policy.Duration) string {
	if d == 0 {
		return ""
	}
	return d.D().String()
}

// print writes the result for a person.
func (c *checkResult) print(w io.Writer) {
	host := c.Host
	if host == "" {
		host = "(no host)"
	}
	fmt.Fprintf(w, "request:   %s %s %s on listener %s\n", c.Method, host, c.Path, c.Listener)
	if c.MatchedPath != "" && c.MatchedPath != c.Path {
		fmt.Fprintf(w, "matched as %s (Envoy's path normalization)\n", c.MatchedPath)
	}
	if c.Redirect {
		fmt.Fprintf(w, "note:      the path holds %%2F or %%5C: Envoy first redirects the client to %s\n", c.MatchedPath)
	}
	r := c.Route
	if r == nil {
		fmt.Fprintln(w, c.Reason)
		return
	}
	defer func() {
		if c.Status >= 400 {
			fmt.Fprintf(w, "answer:    %d: %s\n", c.Status, c.Reason)
		}
	}()
	fmt.Fprintf(w, "route:     %s (%s)\n", r.Name, r.Source)
	fmt.Fprintf(w, "because:   %s\n", strings.Join(r.Match, "; "))
	to := make([]string, len(r.To))
	for i, d := range r.To {
		to[i] = d.Service
		if len(r.To) > 1 {
			to[i] = fmt.Sprintf("%s (weight %d, %.4g%%)", d.Service, d.Weight, d.Percent)
		}
	}
	if len(to) > 0 { // a redirect or respond route sends nothing to a service
		fmt.Fprintf(w, "to:        %s\n", strings.Join(to, ", "))
		timeout := "timeout " + r.Timeout
		if r.PerTryTimeout != "" {
			timeout += ", per try " + r.PerTryTimeout
		}
		if r.IdleTimeout != "" {
			timeout += ", idle " + r.IdleTimeout
		}
		fmt.Fprintf(w, "timeouts:  %s; retries: %s\n", timeout, r.RetrySummary)
	}
	r.printActions(w)
	fmt.Fprintf(w, "auth:      %s\n", describeAuth(r.Auth))
	printInputs(w, r.Inputs)
	if len(r.RateLimits) == 0 {
		fmt.Fprintln(w, "limits:    none")
	}
	for i, l := range r.RateLimits {
		label := "limits:   "
		if i > 0 {
			label = "          "
		}
		key := "one counter"
		if len(l.Key) > 0 {
			key = "key " + strings.Join(l.Key, ", ")
		}
		line := fmt.Sprintf("%s %s: %s, %s, %s %s", label, l.Name, l.Stage, key, l.Algorithm, l.Limit)
		if l.When != "" {
			line += ", when " + l.When
		}
		if l.Shadow {
			line += ", shadow (never refuses)"
		}
		fmt.Fprintln(w, line)
	}
	if r.RateLimitHeaders != "" {
		fmt.Fprintln(w, describeRateLimitHeaders(r))
	}
	r.printTraffic(w)
	r.printHeadersAndCORS(w)
	if r.OneCall {
		fmt.Fprintln(w, "           decided in the ext_authz call (limit_calls.one_call)")
	}
}

func describeAuth(a checkAuth) string {
	if a.Public {
		return "public (no authorization call)"
	}
	s := "accept " + strings.Join(a.Accept, ", ")
	if len(a.Scopes) > 0 {
		s += "; scopes (all) " + strings.Join(a.Scopes, ", ")
	}
	if len(a.Roles) > 0 {
		s += "; roles (one of) " + strings.Join(a.Roles, ", ")
	}
	return s
}
