package authz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// maxTokenLen bounds the work a presented token can cause.
const maxTokenLen = 16 << 10

// parsedToken is a compact JWS split and decoded, not yet verified.
type parsedToken struct {
	header       tokenHeader
	claims       map[string]any
	signingInput []byte // header.payload, as signed
	signature    []byte
}

// tokenHeader holds the JOSE header fields Tollgate looks at. Keys named
// by the token itself (jku, x5u, jwk) are ignored: only the provider's
// JWKS is trusted.
type tokenHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
	B64  *bool           `json:"b64"`
}

var errMalformedToken = errors.New("malformed token")

// ParseToken splits a compact JWS (header.payload.signature) and decodes
// its header and claims. It checks shape only; verification is the
// provider's. It never panics, whatever the input.
func ParseToken(token string) (*parsedToken, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return nil, errMalformedToken
	}
	h, rest, _ := strings.Cut(token, ".")
	p, s, _ := strings.Cut(rest, ".")
	var t parsedToken
	hb, err1 := base64.RawURLEncoding.DecodeString(h)
	pb, err2 := base64.RawURLEncoding.DecodeString(p)
	sb, err3 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil || err3 != nil || len(sb) == 0 {
		return nil, errMalformedToken
	}
	if json.Unmarshal(hb, &t.header) != nil || t.header.Alg == "" {
		return nil, errMalformedToken
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if dec.Decode(&t.claims) != nil || t.claims == nil || dec.More() {
		return nil, errMalformedToken
	}
	t.signingInput = []byte(token[:len(h)+1+len(p)])
	t.signature = sb
	return &t, nil
}

// issuer is the token's unverified iss, used only to pick the provider
// whose keys must then verify it.
func (t *parsedToken) issuer() string {
	s, _ := t.claims["iss"].(string)
	return s
}

// claim finds a claim by dotted path (realm_access.roles).
func claim(claims map[string]any, path []string) (any, bool) {
	var v any = claims
	for _, part := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, v != nil // a null claim counts as absent
}

// claimList reads a claim holding a list: a space-delimited string (the
// OAuth scope claim) or an array of strings.
func claimList(claims map[string]any, path []string) []string {
	v, ok := claim(claims, path)
	if !ok {
		return nil
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// claimString renders a claim as a header value: strings as they are,
// numbers and booleans as JSON, arrays joined by commas, objects as JSON.
// Control characters are dropped so no claim can split a header.
func claimString(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = claimString(e)
		}
		s = strings.Join(parts, ",")
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	if len(s) > 4096 {
		s = s[:4096]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
