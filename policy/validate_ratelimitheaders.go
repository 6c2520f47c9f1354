package policy

import "slices"

// rateLimitHeaders checks the rate_limit_headers word. Limit names, which
// the draft format sends as Structured Field strings, are already
// restricted to ASCII letters, digits, '.', '_' and '-' (see rateLimit),
// so every name serialises without escapes.
func (v *validator) rateLimitHeaders() {
	h := v.p.RateLimitHeaders
	if h == nil || slices.Contains(RateLimitHeaderFormats, h.Format) {
		return
	}
	v.errorf(h.Pos(), "rate_limit_headers", "unknown header format %q; expected draft (RateLimit-Policy and RateLimit, the default), legacy (RateLimit-Limit, -Remaining, -Reset and draft-06's RateLimit-Policy), both or none", h.Format)
}
