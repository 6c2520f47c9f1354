package authz

import (
	"crypto/sha256"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/policy"
)

// keyStore is the compiled, read-only form of a keys file: records by id,
// with decoded hashes. A generation builds a new one; nothing mutates it.
type keyStore struct {
	byID map[string]*storedKey
}

type storedKey struct {
	id       string
	tier     string
	scopes   []string
	services []string // empty: every service
	expires  time.Time
	revoked  time.Time
	secrets  []storedSecret
	identity *Identity // shared by every request with this key
}

type storedSecret struct {
	hash    digest
	expires time.Time // zero: no expiry
}

func compileKeys(kf *KeysFile) *keyStore {
	s := &keyStore{byID: make(map[string]*storedKey, len(kf.Keys))}
	for _, k := range kf.Keys {
		sk := &storedKey{id: k.ID, tier: k.Tier, scopes: k.Scopes, services: k.Services}
		if k.Expires != nil {
			sk.expires = *k.Expires
		}
		if k.Revoked != nil {
			sk.revoked = *k.Revoked
		}
		for _, sec := range k.Secrets {
			d, _ := parseDigest(sec.SHA256) // ParseKeysFile checked it
			ss := storedSecret{hash: d}
			if sec.Expires != nil {
				ss.expires = *sec.Expires
			}
			sk.secrets = append(sk.secrets, ss)
		}
		sk.identity = &Identity{
			Auth:     AuthAPIKey,
			ClientID: k.ID,
			Tier:     k.Tier,
			Scopes:   slices.Clone(k.Scopes),
		}
		sk.identity.finish()
		s.byID[k.ID] = sk
	}
	return s
}

// verify checks a presented key and returns its record, or a reason. Every
// reason gets the same answer; they differ only in logs and metrics.
func (s *keyStore) verify(key string, now time.Time) (*storedKey, string) {
	id, err := ParseKey(key)
	if err != nil {
		return nil, "malformed_key"
	}
	k := s.byID[id]
	if k == nil {
		return nil, "unknown_key"
	}
	presented := digest(sha256.Sum256([]byte(key)))
	// Compare with every secret, not stopping at a match, so that timing
	// does not tell which of a rotating key's secrets was used.
	ok := false
	for _, sec := range k.secrets {
		if presented.matches(sec.hash) && (sec.expires.IsZero() || now.Before(sec.expires)) {
			ok = true
		}
	}
	switch {
	case !ok:
		return nil, "bad_secret"
	case !k.revoked.IsZero() && !now.Before(k.revoked):
		return nil, "key_revoked"
	case !k.expires.IsZero() && !now.Before(k.expires):
		return nil, "key_expired"
	}
	return k, ""
}

// allows reports whether the key may reach every given service.
func (k *storedKey) allows(services []string) bool {
	if len(k.services) == 0 {
		return true
	}
	for _, s := range services {
		if !slices.Contains(k.services, s) {
			return false
		}
	}
	return true
}

// apiKeyFrom finds an API key in a request: the configured header, then
// `Authorization: ApiKey KEY`, then (where the route allows it) the
// api_key query parameter.
func apiKeyFrom(req *Request, header string, allowQuery bool) string {
	if v := req.Headers[header]; v != "" {
		return strings.TrimSpace(v)
	}
	if v, ok := cutScheme(req.Headers["authorization"], "apikey"); ok {
		return v
	}
	if allowQuery {
		return queryParam(req.Path, policy.APIKeyQueryParam)
	}
	return ""
}

// cutScheme returns the credentials of an Authorization header value of
// the given scheme (compared without case).
func cutScheme(v, scheme string) (string, bool) {
	if len(v) <= len(scheme) || v[len(scheme)] != ' ' || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme)+1:]), true
}

// hasQueryValue reports whether a query parameter of a path has a
// non-empty value, in any of its occurrences.
func hasQueryValue(path, name string) bool {
	_, query, _ := strings.Cut(path, "?")
	query, _, _ = strings.Cut(query, "#")
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == name && v != "" {
			return true
		}
	}
	return false
}

// queryParam returns the first value of a query parameter of a path,
// without unescaping: keys use no characters that need escaping.
func queryParam(path, name string) string {
	_, query, ok := strings.Cut(path, "?")
	if !ok {
		return ""
	}
	query, _, _ = strings.Cut(query, "#")
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}
