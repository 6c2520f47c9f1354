package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// This file reads an HTTP/1.1 request from its bytes as Tollgate's Envoy
// listeners do (Envoy 1.40's HTTP/1 codec with the settings of
// xds/listener.go and xds/edge.go), so that `tollgate check` can say what
// Envoy does with a request it refuses itself, or with one whose bytes
// say something else than its parts seem to: an absolute-form target that
// names another host than the Host header, a repeated Host, a tab ending
// the request line. Each rule was observed on a real Envoy; the
// differential test in e2e/differential_test.go keeps them in step.

// Refusal is an answer Envoy gives a request itself, before any route.
type Refusal struct {
	Status int
	Reason string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("refused by Envoy (%d, %s)", r.Status, r.Reason)
}

// MaxRequestHeadBytes is Envoy's default bound on a request's headers
// (max_request_headers_kb 60); a larger request head is answered 431.
const MaxRequestHeadBytes = 60 << 10

// knownMethods are the methods Envoy's HTTP/1 codec accepts, upper-case
// only; any other method is answered 400.
var knownMethods = []string{"DELETE", "GET", "HEAD", "POST", "PUT", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL",
	"MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY",
	"CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PATCH", "PURGE", "MKCALENDAR", "LINK",
	"UNLINK", "SOURCE", "CONNECT"}

func refuse(status int, format string, args ...any) *Refusal {
	return &Refusal{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// ParseRequest reads one HTTP/1 request head (request line, headers,
// empty line; a bare LF ends a line too) as Envoy does. The Request has
// the host Envoy routes on (the absolute-form target's, else the Host
// header's), the target as Envoy matches it before normalization, and
// the headers by lower-case name, one value per header line. A request
// Envoy answers itself returns a *Refusal. overTLS says the listener
// terminates TLS: Envoy then takes an absolute target with either scheme,
// and refuses an https one on a plain connection (403). HTTP/2 is not
// modelled.
func ParseRequest(raw []byte, overTLS bool) (Request, error) {
	return parseRequest(raw, overTLS, MaxRequestHeadBytes)
}

// parseRequest is ParseRequest with a bound on the request head
// (ParseRequestOn gives a listener's max_headers).
func parseRequest(raw []byte, overTLS bool, maxHead int) (Request, error) {
	head := string(raw)
	if i := strings.Index(head, "\n\r\n"); i >= 0 {
		head = head[:i+1]
	} else if i := strings.Index(head, "\n\n"); i >= 0 {
		head = head[:i+1]
	}
	if len(head) > maxHead {
		return Request{}, refuse(431, "request headers larger than %d KiB", maxHead>>10)
	}
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSuffix(lines[i], "\r")
	}
	// In Envoy's order: what the codec refuses while parsing, then the
	// version once the headers are read, then the connection manager's
	// checks.
	r, version, err := parseRequestLine(lines[0])
	if err != nil {
		return r, err
	}
	if r.Headers, err = parseHeaders(lines[1:]); err != nil {
		return r, err
	}
	if !overTLS && len(r.Path) >= 8 && strings.EqualFold(r.Path[:8], "https://") {
		return r, refuse(403, "an https URL on a plain HTTP connection")
	}
	if version != "HTTP/1.1" {
		return r, refuse(426, "%s is not accepted: HTTP/1.1 and HTTP/2 only", version)
	}
	if err := requestAuthority(&r); err != nil {
		return r, err
	}
	if strings.Contains(r.Path, "#") {
		return r, refuse(400, "the request target holds a fragment (#)")
	}
	return r, nil
}

// parseRequestLine splits "METHOD TARGET VERSION": spaces and tabs
// separate, and may repeat or end the line.
func parseRequestLine(line string) (Request, string, error) {
	fields := strings.FieldsFunc(line, func(c rune) bool { return c == ' ' || c == '\t' })
	if len(fields) != 3 {
		return Request{}, "", refuse(400, "malformed request line %q", line)
	}
	r := Request{Method: fields[0], Path: fields[1]}
	version := fields[2]
	if !slices.Contains(knownMethods, r.Method) {
		return r, "", refuse(400, "unknown method %q (methods are upper-case)", r.Method)
	}
	if len(version) != 8 || !strings.HasPrefix(version, "HTTP/") || !isDigit(version[5]) || version[6] != '.' || !isDigit(version[7]) {
		return r, "", refuse(400, "malformed HTTP version %q", version)
	}
	for i := 0; i < len(r.Path); i++ {
		if c := r.Path[i]; c <= ' ' || c >= 0x7f {
			return r, "", refuse(400, "the request target holds byte %#x (only ASCII 0x21-0x7E)", c)
		}
	}
	if r.Method == "CONNECT" {
		return r, "", refuse(400, "CONNECT is not supported")
	}
	return r, version, targetForm(r.Method, r.Path)
}

// targetForm refuses a target that is neither a path, "*" (for OPTIONS)
// nor an absolute http(s) URL with a host name and, if any, a port
// number, as Envoy's codec does while it parses.
func targetForm(method, target string) error {
	switch {
	case strings.HasPrefix(target, "/"):
		return nil
	case strings.HasPrefix(target, "*") && method != "OPTIONS":
		return refuse(400, "the target * is for OPTIONS only")
	case strings.HasPrefix(target, "*"):
		return nil // what follows the * too: Envoy then routes nothing (404)
	}
	scheme, rest, ok := strings.Cut(target, "://")
	switch {
	case !ok || !isScheme(scheme):
		return refuse(400, "the request target %q is neither a path nor an absolute URL", target)
	case !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https"):
		return refuse(400, "unsupported scheme %q", scheme)
	}
	authority := rest
	if end := strings.IndexAny(rest, "/?"); end >= 0 {
		authority = rest[:end]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	name := authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		name = authority[:i]
		if port, err := strconv.Atoi(authority[i+1:]); err != nil || port < 0 || port > 65535 || strings.Trim(authority[i+1:], "0123456789") != "" {
			return refuse(400, "the URL's port %q is not a port number", authority[i+1:])
		}
	}
	if !strings.HasPrefix(name, "[") && (name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "") {
		return refuse(400, "the URL's host %q is not a host name", name)
	}
	return nil
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, "+", "-" or ".".
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('a' <= c && c <= 'z') && (i == 0 || !isDigit(s[i]) && !strings.ContainsRune("+-.", rune(s[i]))) {
			return false
		}
	}
	return s != ""
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseHeaders reads header lines: "name: value", the value's surrounding
// spaces and tabs trimmed; a line starting with a space or tab continues
// the previous header's value.
func parseHeaders(lines []string) (map[string][]string, error) {
	headers := map[string][]string{}
	last := ""
	for _, line := range lines {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if last == "" {
				return nil, refuse(400, "a header line starts with whitespace")
			}
			vs := headers[last]
			vs[len(vs)-1] = strings.Trim(vs[len(vs)-1]+" "+strings.Trim(line, " \t"), " \t")
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !isToken(name) {
			return nil, refuse(400, "malformed header line %q", line)
		}
		if strings.Contains(name, "_") {
			return nil, refuse(400, "header %q has an underscore (headers_with_underscores_action: REJECT_REQUEST)", name)
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return nil, refuse(400, "header %q holds control byte %#x", name, c)
			}
		}
		last = strings.ToLower(name)
		if last == "content-length" && len(headers[last]) > 0 {
			// Envoy's codec refuses a second Content-Length, even an
			// equal one: a request smuggler's favourite ambiguity.
			return nil, refuse(400, "two Content-Length headers")
		}
		headers[last] = append(headers[last], value)
	}
	for _, v := range headers["content-length"] {
		// after folding: "content-length: 0" then " x-a: 1" is "0 x-a: 1"
		if v == "" || strings.Trim(v, "0123456789") != "" {
			return nil, refuse(400, "Content-Length %q is not a number", v)
		}
	}
	return headers, nil
}

// isToken reports whether s is an HTTP token (a valid header name).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// requestAuthority sets the host Envoy routes on: an absolute-form
// target's authority wins over the Host header (RFC 9112 3.2.2); several
// Host headers are joined (joinHosts).
func requestAuthority(r *Request) error {
	hosts := r.Headers["host"]
	delete(r.Headers, "host")
	switch {
	case strings.HasPrefix(r.Path, "/") || strings.HasPrefix(r.Path, "*"):
		if len(hosts) == 0 {
			return refuse(400, "HTTP/1.1 request without a Host header")
		}
		r.Host = joinHosts(hosts)
	default:
		if err := absoluteTarget(r); err != nil {
			return err
		}
	}
	for i := 0; i < len(r.Host); i++ {
		if c := r.Host[i]; !isAuthorityByte(c) {
			return refuse(400, "the host %q holds byte %#x", r.Host, c)
		}
	}
	return nil
}

// joinHosts joins repeated Host headers as Envoy appends a header value:
// an empty value adds nothing, others are joined with ",".
func joinHosts(hosts []string) string {
	out := ""
	for _, h := range hosts {
		if out != "" && h != "" {
			out += ","
		}
		out += h
	}
	return out
}

// absoluteTarget splits "http://host[:port]/path?query" (targetForm
// checked it) into the host and the target Envoy matches.
func absoluteTarget(r *Request) error {
	target := r.Path
	_, rest, _ := strings.Cut(target, "://")
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	r.Host, r.Path = authority, rest[end:]
	switch {
	case r.Path == "":
		r.Path = "/"
	case !strings.HasPrefix(r.Path, "/"):
		// A query but no path: Envoy 1.40 (Utility::Url::initialize)
		// takes as many bytes as follow the authority, but from offset 0
		// of the URL, the absent path field's offset. "http://h?q=a#b"
		// thus routes on the path "http://h?q=a" cut to 6 bytes, and its
		// fragment is never seen (found by the differential test).
		r.Path = target[:len(r.Path)]
	}
	return nil
}

// isAuthorityByte is the set of bytes Envoy accepts in a host:
// RFC 3986's authority characters.
func isAuthorityByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~%!$&'()*+,;=:@[]", c) >= 0
}
