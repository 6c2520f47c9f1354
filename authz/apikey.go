package authz

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// An API key reads tg_<id>_<secret>: a recognisable prefix (so secret
// scanners and people spot leaked keys), the key's id (not secret: it
// names the key in logs, metrics and `tollgate keys`), and 32 characters
// of lower-case base32 carrying 160 random bits from crypto/rand.
const (
	KeyPrefix     = "tg_"
	secretBytes   = 20 // 160 bits, above the 128 the issue asks for
	secretLen     = 32 // base32 of 20 bytes, no padding
	maxKeyLen     = len(KeyPrefix) + 63 + 1 + secretLen
	hashAlgorithm = "sha256"
)

var (
	keyIDRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	secretCoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
)

// ValidKeyID reports whether id can name a key: lower-case letters, digits
// and '-', at most 63; no '_', which separates the key's parts.
func ValidKeyID(id string) bool { return keyIDRE.MatchString(id) }

// NewKey returns a fresh key for id and the hash the keys file stores.
func NewKey(id string) (key string, hash string, err error) {
	if !ValidKeyID(id) {
		return "", "", fmt.Errorf("key id %q: use lower-case letters, digits and '-' (at most 63)", id)
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("reading random bytes: %w", err)
	}
	key = KeyPrefix + id + "_" + secretCoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// HashKey is what the keys file stores of a key: hex SHA-256 of the whole
// key. A plain hash suffices because the secret is 160 random bits: no
// dictionary or brute force reaches it, so a slow or peppered hash would
// only cost latency (see docs/policy.md, "API keys").
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

var errMalformedKey = errors.New("malformed API key")

// ParseKey splits a presented key into its id, checking its shape only.
// It never says what is wrong: the caller answers every bad key alike.
func ParseKey(key string) (id string, err error) {
	if len(key) > maxKeyLen || !strings.HasPrefix(key, KeyPrefix) {
		return "", errMalformedKey
	}
	rest := key[len(KeyPrefix):]
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", errMalformedKey
	}
	id, secret := rest[:i], rest[i+1:]
	if !ValidKeyID(id) || len(secret) != secretLen {
		return "", errMalformedKey
	}
	for j := 0; j < len(secret); j++ {
		c := secret[j]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return "", errMalformedKey
		}
	}
	return id, nil
}

// digest is a decoded SHA-256 of a key.
type digest [sha256.Size]byte

func parseDigest(s string) (digest, bool) {
	var d digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, false
	}
	copy(d[:], b)
	return d, true
}

// matches compares in constant time: how many leading bytes of the hash
// were right must not show in the answer's timing.
func (d digest) matches(other digest) bool {
	return subtle.ConstantTimeCompare(d[:], other[:]) == 1
}
