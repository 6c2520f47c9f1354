package policy

import (
	"errors"
	"strings"
)

// Envoy rewrites a request's path before it picks a route (xds/listener.go
// and xds/edge.go configure it), so route matching must look at the path
// as rewritten. NormalizePath reproduces, in Envoy's order:
//
//  1. path_with_escaped_slashes_action UNESCAPE_AND_REDIRECT: %2F and %5C
//     (any case) become / and \, and Envoy answers with a redirect to the
//     result, which the client then requests;
//  2. normalize_path: Envoy's copy of Chromium's path canonicalizer (RFC
//     3986 dot-segment removal, "%2e" counting as "."; \ becomes /;
//     escaped unreserved characters decoded; characters that must be
//     escaped are); a NUL or "%00" makes Envoy answer 400;
//  3. merge_slashes: runs of / become one.
//
// Only the path is rewritten; the query string is kept as sent.

// ErrInvalidPath is returned for a path Envoy refuses with 400.
var ErrInvalidPath = errors.New("Envoy refuses the path (400): it holds a NUL character or %00") //nolint:staticcheck // ST1005: "Envoy" is a name

// NormalizedPath is a request path as Envoy routes it.
type NormalizedPath struct {
	// Path is the normalized path with the query string as sent.
	Path string
	// Redirect is set when the path held %2F or %5C: Envoy then answers
	// with a redirect to Path instead of routing the request.
	Redirect bool
}

// NormalizePath rewrites a request path (with its query string, without
// a fragment) the way Tollgate's Envoy listeners do before routing.
func NormalizePath(raw string) (NormalizedPath, error) {
	p, query, hasQuery := strings.Cut(raw, "?")
	unescaped := unescapeSlashes(p)
	out := NormalizedPath{Redirect: unescaped != p}
	canonical, ok := canonicalPath(unescaped)
	if !ok {
		return out, ErrInvalidPath
	}
	out.Path = mergeSlashes(canonical)
	if hasQuery {
		out.Path += "?" + query
	}
	return out, nil
}

// unescapeSlashes decodes %2F and %5C, as Envoy's unescapeSlashes does.
func unescapeSlashes(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			switch strings.ToUpper(p[i+1 : i+3]) {
			case "2F":
				b.WriteByte('/')
				i += 2
				continue
			case "5C":
				b.WriteByte('\\')
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// mergeSlashes collapses runs of slashes into one as Envoy does: it
// joins the non-empty segments, keeping a leading and a trailing slash,
// so a path of slashes only ("//") stays "//".
func mergeSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var segments []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			segments = append(segments, s)
		}
	}
	out := strings.Join(segments, "/")
	if strings.HasPrefix(p, "/") {
		out = "/" + out
	}
	if strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}

// pathChar says what the canonicalizer does with a byte of a path.
type pathChar uint8

const (
	pass     pathChar = iota // copied whether escaped or not
	unescape                 // decoded when escaped, copied otherwise
	escape                   // percent-encoded
	invalid                  // percent-encoded, and the path is refused
)

// pathCharClass classifies a byte as Chromium's kPathCharLookup does.
func pathCharClass(c byte) pathChar {
	switch {
	case c == 0:
		return invalid
	case c < 0x20 || c >= 0x7f:
		return escape
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return unescape
	}
	switch c {
	case '-', '.', '_', '~':
		return unescape
	case ' ', '"', '#', '%', '<', '>', '?', '\\', '^', '`', '{', '|', '}':
		return escape
	}
	return pass
}

// canonicalPath is Chromium's CanonicalizePath as Envoy runs it: it
// resolves "." and ".." segments (never above the root), turns \ into /,
// decodes escaped unreserved characters, escapes what must be, and keeps
// other escapes exactly as written. ok is false when Envoy refuses the
// path.
func canonicalPath(in string) (string, bool) {
	out := make([]byte, 0, len(in)+1)
	if in == "" || (in[0] != '/' && in[0] != '\\') {
		out = append(out, '/')
	}
	ok := true
	for i := 0; i < len(in); i++ {
		c := in[i]
		if n := dotLen(in, i); n > 0 {
			if out[len(out)-1] != '/' {
				out = append(out, '.')
				i += n - 1
				continue
			}
			consumed, kind := dotSegment(in, i, n)
			switch kind {
			case notDirectory:
				out = append(out, '.')
			case directoryUp:
				out = backUpToPreviousSlash(out)
			}
			i += n + consumed - 1
			continue
		}
		switch {
		case c == '\\':
			out = append(out, '/')
		case c == '%':
			v, ok2 := decodeEscape(in, i)
			if !ok2 {
				out = append(out, nestedEscapeGuard(in, i)...)
				continue
			}
			switch pathCharClass(v) {
			case unescape:
				out = append(out, v)
			case invalid:
				out = append(out, in[i:i+3]...)
				ok = false
			default:
				out = append(out, in[i:i+3]...)
			}
			i += 2
		default:
			switch pathCharClass(c) {
			case escape:
				out = appendEscaped(out, c)
			case invalid:
				out = appendEscaped(out, c)
				ok = false
			default:
				out = append(out, c)
			}
		}
	}
	return string(out), ok
}

// dotSegment classifies the dot of length n at i, which follows a slash
// in the output, and says how many input bytes after it its meaning
// consumes.
func dotSegment(in string, i, n int) (int, dotKind) {
	if n == 1 && i > 0 && in[i-1] == '/' {
		if consumed, kind, ok := dotSemicolonSegment(in, i+1); ok {
			return consumed, kind
		}
	}
	return classifyAfterDot(in, i+n)
}

// dotSemicolonSegment reads "." or ".." written with literal dots and
// followed by ";" (a path parameter) as that dot segment, dropping the
// parameter up to the next "/": Envoy resolves "/a/..;x/b" to "/b" and
// "/a/.;x/b" to "/a/b" (services such as Tomcat do the same), but only
// after a "/" as written (or unescaped from %2F), not after a "\". after
// is the index following the first dot.
func dotSemicolonSegment(s string, after int) (int, dotKind, bool) {
	kind := directoryCur
	i := after
	if i < len(s) && s[i] == '.' {
		kind, i = directoryUp, i+1
	}
	if i >= len(s) || s[i] != ';' {
		return 0, 0, false
	}
	for i < len(s) && s[i] != '/' { // a "\\" does not end it
		i++
	}
	if i < len(s) {
		i++ // the slash ends the segment and is consumed with it
	}
	return i - after, kind, true
}

// nestedEscapeGuard is what a "%" that does not start an escape becomes:
// "%25" when the two characters after it, once decoded, are hex digits,
// so that "%%32%65" becomes "%252e" and not a new "%2e" (Chromium's guard
// against nested escapes, which Envoy keeps), else "%" unchanged.
func nestedEscapeGuard(s string, i int) string {
	c1, n1 := decodedAt(s, i+1)
	c2, _ := decodedAt(s, i+1+n1)
	if _, ok := unhex(c1); ok && n1 > 0 {
		if _, ok := unhex(c2); ok {
			return "%25"
		}
	}
	return "%"
}

// decodedAt is the character at i, decoding an escape, and its length in
// s; 0 at the end.
func decodedAt(s string, i int) (byte, int) {
	if i >= len(s) {
		return 0, 0
	}
	if v, ok := decodeEscape(s, i); ok && s[i] == '%' {
		return v, 3
	}
	return s[i], 1
}

// dotLen is 1 for ".", 3 for "%2e" or "%2E" at i, else 0.
func dotLen(s string, i int) int {
	if s[i] == '.' {
		return 1
	}
	if s[i] == '%' && i+2 < len(s) && s[i+1] == '2' && (s[i+2] == 'e' || s[i+2] == 'E') {
		return 3
	}
	return 0
}

type dotKind uint8

const (
	notDirectory dotKind = iota
	directoryCur
	directoryUp
)

// classifyAfterDot says what a dot that follows a slash means, given the
// input after it, and how many more input bytes that meaning consumes.
func classifyAfterDot(s string, after int) (int, dotKind) {
	if after == len(s) {
		return 0, directoryCur
	}
	if s[after] == '/' || s[after] == '\\' {
		return 1, directoryCur
	}
	if n := dotLen(s, after); n > 0 {
		end := after + n
		if end == len(s) {
			return n, directoryUp
		}
		if s[end] == '/' || s[end] == '\\' {
			return n + 1, directoryUp
		}
	}
	return 0, notDirectory
}

// backUpToPreviousSlash drops the last segment of out, which ends with a
// slash, never going above the first slash.
func backUpToPreviousSlash(out []byte) []byte {
	i := len(out) - 1
	if i == 0 {
		return out
	}
	i--
	for out[i] != '/' && i > 0 {
		i--
	}
	return out[:i+1]
}

// decodeEscape decodes the "%XX" at i.
func decodeEscape(s string, i int) (byte, bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	hi, ok1 := unhex(s[i+1])
	lo, ok2 := unhex(s[i+2])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendEscaped(out []byte, c byte) []byte {
	const hex = "0123456789ABCDEF"
	return append(out, '%', hex[c>>4], hex[c&15])
}
