package policy

import (
	"fmt"
	"slices"
	"strings"
)

// connectionHeaders describe a connection or a message's framing rather
// than the request: Envoy sets them itself and refuses host as a header
// change (Envoy's HeaderUtility::isModifiableHeader), and the others
// would break the exchange.
var connectionHeaders = []string{"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade", "content-length"}

// headerChanges checks the header changes of every listener and route.
func (v *validator) headerChanges() {
	for i, l := range v.p.Listeners {
		v.headerChangesOf(l.Headers, listPath("listeners", i, l.Name)+".headers")
	}
	for i, r := range v.p.Routes {
		v.headerChangesOf(r.Headers, listPath("routes", i, r.Name)+".headers")
	}
}

func (v *validator) headerChangesOf(h *HeaderChanges, path string) {
	if h == nil {
		return
	}
	v.headerChangeSet(h.Request, path+".request", true)
	v.headerChangeSet(h.Response, path+".response", false)
}

func (v *validator) headerChangeSet(s *HeaderChangeSet, path string, request bool) {
	if s == nil {
		return
	}
	set := names{}
	for _, field := range []string{"set", "add"} {
		values := s.Set
		if field == "add" {
			values = s.Add
		}
		for j, hv := range values {
			p := fmt.Sprintf("%s.%s[%d]", path, field, j)
			if v.changedHeader(hv.Name, hv.At("name"), p+".name", request, false) && field == "set" {
				v.setOnce(set, hv, p+".name")
			}
			v.headerValue(hv, p+".value")
		}
	}
	for j, name := range s.Remove {
		p := fmt.Sprintf("%s.remove[%d]", path, j)
		if !v.changedHeader(name, s.At("remove"), p, request, true) {
			continue
		}
		if slices.ContainsFunc(append(slices.Clone(s.Set), s.Add...), func(hv *HeaderValue) bool { return strings.EqualFold(hv.Name, name) }) {
			v.errorf(s.At("remove"), p, "%q is also set or added here: removal comes first, so remove it or drop the removal", name)
		}
	}
}

// setOnce refuses a header set twice in one direction: set replaces
// every value, so the second would silently win.
func (v *validator) setOnce(set names, hv *HeaderValue, path string) {
	lower := strings.ToLower(hv.Name)
	if first, dup := set[lower]; dup {
		v.errorf(hv.At("name"), path, "%q is already set at %s: set replaces every value, so write it once (add appends a value)", hv.Name, first)
		return
	}
	set[lower] = hv.At("name")
}

// changedHeader checks the name of a header a change writes or removes,
// and reports whether it may be changed.
func (v *validator) changedHeader(name string, pos Pos, path string, request, remove bool) bool {
	lower := strings.ToLower(name)
	switch {
	case name == "":
		v.errorf(pos, path, "needs a header name")
	case !headerNameRE.MatchString(name):
		v.errorf(pos, path, "%q is not a valid header name", name)
	case slices.Contains(connectionHeaders, lower):
		v.errorf(pos, path, "%q is the connection's or the message's framing, which Envoy sets itself; header changes may not touch it", name)
	case !request:
		return true
	case strings.HasPrefix(lower, IdentityHeaderPrefix) || slices.Contains(v.p.IdentityHeaders(), lower):
		v.errorf(pos, path, "%q is an identity header: only the gateway's authorization sets it and services trust it, so no header change may touch it", name)
	case v.p.GatewaySetHeader(lower):
		v.errorf(pos, path, "%q is set or removed by the gateway itself, and services trust what it says (docs/policy.md, \"What services may trust\"); header changes may not touch it", name)
	case !remove && (lower == "authorization" || lower == v.p.APIKeyHeader()):
		v.errorf(pos, path, "%q carries credentials, which never reach a service; header changes may remove it but not write it", name)
	default:
		return true
	}
	return false
}

// headerValue checks a value Envoy can send and splits it into its parts.
func (v *validator) headerValue(hv *HeaderValue, path string) {
	if hv.Value == "" {
		v.errorf(hv.At("value"), path, "needs a value (an empty one writes nothing; to drop a header, remove it)")
		return
	}
	if strings.ContainsAny(hv.Value, "\r\n\x00") {
		v.errorf(hv.At("value"), path, "a header value may not hold a line break or a NUL byte")
		return
	}
	parts, err := parseHeaderValue(hv.Value)
	if err != nil {
		v.errorf(hv.At("value"), path, "%v", err)
		return
	}
	hv.Parts = parts
}
