package policy

import (
	"fmt"
	"mime"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// RequestLimits refuse, at the gateway, requests a service should never
// see. On a route: a body over MaxBody (413), a method not in Methods (405
// with Allow) or a content type not in ContentTypes (415). On a listener:
// MaxBody for every route of the listener that sets none, and MaxHeaders,
// the size of a request's headers (431), which Envoy checks while it reads
// them, before any route is chosen.
type RequestLimits struct {
	Source `yaml:"-"`

	// MaxBody is the largest request body accepted, as "1MiB", "64KiB" or
	// a number of bytes.
	MaxBody string `yaml:"max_body"`
	// MaxHeaders is the largest request head accepted (listener only), a
	// whole number of KiB.
	MaxHeaders string `yaml:"max_headers"`
	// Methods are the methods a route serves (route only).
	Methods []string `yaml:"methods"`
	// ContentTypes are the media types a route reads ("application/json",
	// "text/*"), route only. Parameters such as charset are not compared.
	ContentTypes []string `yaml:"content_types"`

	// MaxBodyBytes and MaxHeadersBytes are MaxBody and MaxHeaders parsed by
	// validation; 0 when not set.
	MaxBodyBytes    int64 `yaml:"-"`
	MaxHeadersBytes int64 `yaml:"-"`
}

// Limits on the limits: Envoy buffers a limited body whole before
// forwarding it (xds/requestlimits.go), so a request can hold MaxBodyLimit
// of the gateway's memory; Envoy reads request heads of at most
// MaxHeadersLimit (max_request_headers_kb).
const (
	MaxBodyLimit    = 64 << 20
	MaxHeadersLimit = 8192 << 10
	// EnvoyMaxHeaders is Envoy's own limit on request heads, which applies
	// when a listener sets no max_headers.
	EnvoyMaxHeaders = 60 << 10
)

// byteUnits are the units a size may be written in, longest first.
var byteUnits = []struct {
	suffix string
	bytes  int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseByteSize reads "1MiB", "64KiB", "512B" or a number of bytes.
func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	unit := int64(1)
	num := s
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = strings.TrimSpace(n), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/unit {
		return 0, fmt.Errorf("%q is not a size: write a positive whole number of bytes, or of KiB, MiB or GiB, such as 1MiB", s)
	}
	return n * unit, nil
}

// FormatByteSize writes a size in the largest unit that divides it.
func FormatByteSize(n int64) string {
	for _, u := range byteUnits {
		if n >= u.bytes && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// MaxBodyFor is the body limit a route's requests get on a listener: the
// route's own, else the listener's unless the route streams; 0 for none.
func (p *Policy) MaxBodyFor(l *Listener, r *Route) int64 {
	if r.RequestLimits != nil && r.RequestLimits.MaxBodyBytes > 0 {
		return r.RequestLimits.MaxBodyBytes
	}
	if l != nil && l.RequestLimits != nil && !p.Streams(r) {
		return l.RequestLimits.MaxBodyBytes
	}
	return 0
}

// Streams reports whether a route's requests are streams a body limit
// must not hold back: Envoy enforces max_body by holding the body until
// it is whole, which would never forward a gRPC stream's first message
// while the stream stays open. A listener's max_body therefore skips
// routes to gRPC services; a route's own max_body still applies (unary
// calls are whole requests). An upgraded route (WebSocket) streams too:
// its upgrade request has no body to hold, and held, it would never be
// forwarded.
func (p *Policy) Streams(r *Route) bool {
	if len(r.Upgrades) > 0 {
		return true
	}
	for _, d := range r.To {
		if s := p.Services[d.Service]; s != nil && s.Protocol == GRPC {
			return true
		}
	}
	return false
}

// MethodAllowed reports whether a route serves method: true when the
// route lists no methods.
func (r *RequestLimits) MethodAllowed(method string) bool {
	return r == nil || len(r.Methods) == 0 || slices.Contains(r.Methods, method)
}

// ContentTypeAllowed reports whether a request passes the route's
// content_types, as the routes xds/requestlimits.go generates decide it:
// a Content-Type must be one of them, and a request without one must not
// announce a body (a Content-Length other than 0) nor use a method that
// carries one (BodyMethods) without saying Content-Length: 0. Route
// matching cannot see a chunked body, hence the rule on methods.
func (r *RequestLimits) ContentTypeAllowed(method string, headers map[string][]string) bool {
	if r == nil || len(r.ContentTypes) == 0 {
		return true
	}
	if types := headerValues(headers, "content-type"); len(types) > 0 {
		// Content-Type is one of Envoy's inline headers: repeated, its
		// values are joined with commas and matched as one.
		return fullMatch(r.ContentTypePattern(), strings.Join(types, ","))
	}
	lengths := headerValues(headers, "content-length")
	if len(lengths) > 0 {
		return !slices.ContainsFunc(lengths, func(l string) bool { return l != "0" })
	}
	return !slices.Contains(BodyMethods, method)
}

// BodyMethods are the methods whose requests carry a body as a rule.
var BodyMethods = []string{"POST", "PUT", "PATCH"}

// headerValues are a header's values, its name matched without regard to
// case.
func headerValues(headers map[string][]string, name string) []string {
	var out []string
	for n, vs := range headers {
		if strings.EqualFold(n, name) {
			out = append(out, vs...)
		}
	}
	return out
}

// refusedByLimits is what Envoy answers for a route's request limits
// before the route takes the request, in the order of the routes
// xds/requestlimits.go generates: 405, 413 on a declared length, 415; 0
// when they let it through.
func (p *Policy) refusedByLimits(l *Listener, route *Route, req Request) (int, string) {
	lim := route.RequestLimits
	if !lim.MethodAllowed(req.Method) {
		return 405, fmt.Sprintf("route %s serves %s only: Envoy answers 405 with Allow: %s", route.Name, strings.Join(lim.Methods, ", "), strings.Join(lim.Methods, ", "))
	}
	if max := p.MaxBodyFor(l, route); max > 0 {
		for _, v := range headerValues(req.Headers, "content-length") {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > max {
				return 413, fmt.Sprintf("Content-Length %d is over the %s route %s accepts: Envoy answers 413", n, FormatByteSize(max), route.Name)
			}
		}
	}
	if !lim.ContentTypeAllowed(req.Method, req.Headers) {
		return 415, fmt.Sprintf("route %s reads %s only (a body needs a Content-Type): Envoy answers 415", route.Name, strings.Join(lim.ContentTypes, ", "))
	}
	return 0, ""
}

// ContentTypePattern is the RE2 expression a Content-Type value matches
// when its media type is one of the route's content_types: any case, any
// parameters, "type/*" for any subtype. No comma: two Content-Type
// headers reach route matching joined by one, and are refused.
func (r *RequestLimits) ContentTypePattern() string {
	alts := make([]string, len(r.ContentTypes))
	for i, t := range r.ContentTypes {
		if prefix, ok := strings.CutSuffix(t, "*"); ok {
			alts[i] = regexp.QuoteMeta(prefix) + `[^;,\s]+`
		} else {
			alts[i] = regexp.QuoteMeta(t)
		}
	}
	return `(?i)\s*(?:` + strings.Join(alts, "|") + `)\s*(?:;[^,]*)?`
}

// validMediaType reports whether s is a type/subtype without parameters,
// the subtype possibly "*".
func validMediaType(s string) bool {
	t, params, err := mime.ParseMediaType(s)
	return err == nil && len(params) == 0 && t == s && strings.Count(t, "/") == 1 && !strings.HasPrefix(t, "*")
}

// ParseRequestOn is ParseRequest for a request arriving on listener l,
// whose max_headers, when set, replaces Envoy's 60 KiB.
func ParseRequestOn(raw []byte, l *Listener) (Request, error) {
	maxHead := MaxRequestHeadBytes
	if l.RequestLimits != nil && l.RequestLimits.MaxHeadersBytes > 0 {
		maxHead = int(l.RequestLimits.MaxHeadersBytes)
	}
	return parseRequest(raw, l.TLS != nil, maxHead)
}
