package policy

import "go.yaml.in/yaml/v3"

// RateLimitHeaderFormat says which rate-limit header fields responses
// carry.
//
// draft-ietf-httpapi-ratelimit-headers changed its fields in draft-07
// (2023): the trio RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset, and a RateLimit-Policy of the form 100;w=60;name="x"
// (draft-06), gave way to two Structured Fields (RFC 9651) that name each
// quota policy: RateLimit-Policy: "x";q=100;w=60 and RateLimit:
// "x";r=42;t=17. Clients written against the old draft read the trio, so
// the old form stays available. The choice is policy-wide because both
// drafts use the name RateLimit-Policy with incompatible syntaxes: one
// response cannot carry both, and one API should speak one form.
type RateLimitHeaderFormat string

// The header formats.
const (
	// HeadersDraft, the default, sends RateLimit-Policy and RateLimit as
	// draft-07 and later define them.
	HeadersDraft RateLimitHeaderFormat = "draft"
	// HeadersLegacy sends draft-06's RateLimit-Limit, RateLimit-Remaining,
	// RateLimit-Reset and RateLimit-Policy.
	HeadersLegacy RateLimitHeaderFormat = "legacy"
	// HeadersBoth sends the draft's two fields and the legacy trio (not
	// the legacy RateLimit-Policy, whose name the draft's field takes),
	// for an API migrating its clients.
	HeadersBoth RateLimitHeaderFormat = "both"
	// HeadersNone sends no RateLimit fields at all, not even with a 429,
	// for an API that does not disclose its quotas; Retry-After and the
	// JSON body of a refusal stay.
	HeadersNone RateLimitHeaderFormat = "none"
)

// RateLimitHeaderFormats are the formats a policy may name.
var RateLimitHeaderFormats = []RateLimitHeaderFormat{HeadersDraft, HeadersLegacy, HeadersBoth, HeadersNone}

// RateLimitHeaders is the top-level rate_limit_headers setting, written as
// a single word (rate_limit_headers: legacy). It is a struct so that
// validation can point at where it was written.
type RateLimitHeaders struct {
	Source `yaml:"-"`

	Format RateLimitHeaderFormat
}

// String is the format as a policy writes it (the Defaults table reads
// it so).
func (h RateLimitHeaders) String() string { return string(h.Format) }

// decodeNode reads the single word; validation checks it.
func (h *RateLimitHeaders) decodeNode(d *decoder, n *yaml.Node, path string) {
	h.pos = d.pos(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, path, "expected one of draft, legacy, both or none, found %s", describe(n))
		return
	}
	h.Format = RateLimitHeaderFormat(n.Value)
}

// mergeRateLimitHeaders takes the rate_limit_headers setting of one
// document; it may be written once in the whole policy.
func (p *Policy) mergeRateLimitHeaders(h *RateLimitHeaders, errs *Errors) {
	if h == nil {
		return
	}
	if p.RateLimitHeaders != nil {
		errs.addf(h.Pos(), "rate_limit_headers", "rate_limit_headers is already defined at %s", p.RateLimitHeaders.Pos())
		return
	}
	p.RateLimitHeaders = h
}

// applyRateLimitHeadersDefaults gives every policy a header format, so
// that the rate limiter reads a resolved value.
func applyRateLimitHeadersDefaults(p *Policy) {
	if p.RateLimitHeaders == nil {
		p.RateLimitHeaders = &RateLimitHeaders{}
	}
	if p.RateLimitHeaders.Format == "" {
		p.RateLimitHeaders.Format = HeadersDraft
	}
}
