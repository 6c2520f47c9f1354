package main

import (
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/policy"
)

// rateLimitFields names the fields each rate_limit_headers format sends.
var rateLimitFields = map[policy.RateLimitHeaderFormat]string{
	policy.HeadersDraft:  "RateLimit-Policy, RateLimit",
	policy.HeadersLegacy: "RateLimit-Limit, -Remaining, -Reset, draft-06 RateLimit-Policy",
	policy.HeadersBoth:   "RateLimit-Policy, RateLimit, RateLimit-Limit, -Remaining, -Reset",
}

// describeRateLimitHeaders says which rate-limit fields a route's
// responses carry: on a 429 always (unless the format is none), on an
// admitted response for the limits that ask (headers: true, not shadow).
func describeRateLimitHeaders(r *checkRoute) string {
	format := policy.RateLimitHeaderFormat(r.RateLimitHeaders)
	if format == policy.HeadersNone {
		return "headers:   none (Retry-After only, on a 429)"
	}
	var admitted []string
	for _, l := range r.RateLimits {
		if l.Headers && !l.Shadow {
			admitted = append(admitted, l.Name)
		}
	}
	s := fmt.Sprintf("headers:   %s (%s): on a 429", format, rateLimitFields[format])
	if len(admitted) > 0 {
		s += ", and on admitted responses for " + strings.Join(admitted, ", ")
	}
	return s
}
