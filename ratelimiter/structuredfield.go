package ratelimiter

import "strconv"

// The draft's RateLimit and RateLimit-Policy fields are Structured Fields
// (RFC 9651): a List of Items, each a String (a limit's name) with Integer
// parameters. That is all Tollgate serialises, so it does so here rather
// than through a general library; the tests parse the result with an
// independent RFC 9651 parser.

// maxSFInteger is the largest Integer RFC 9651 allows (fifteen digits).
const maxSFInteger = 999_999_999_999_999

// appendSFString appends s as an sf-string (RFC 9651 section 4.1.6): '"'
// and '\' escaped, and any byte outside printable ASCII, which an
// sf-string cannot hold, replaced with '?', so the field always parses.
// Policy validation keeps limit names to ASCII letters, digits, '.', '_'
// and '-', so in practice nothing is escaped or replaced.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// appendSFParam appends the parameter ;key=n with n an sf-integer, held
// to [0, maxSFInteger]: the draft's parameters are never negative.
func appendSFParam(b []byte, key string, n int64) []byte {
	b = append(b, ';')
	b = append(b, key...)
	b = append(b, '=')
	return strconv.AppendInt(b, min(max(n, 0), maxSFInteger), 10)
}
