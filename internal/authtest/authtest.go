// Package authtest makes signing keys, JWKS documents and tokens (good
// and deliberately bad) for the tests and benchmarks of authorization.
// It is test support only; nothing in the gateway imports it.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is a signing key with its kid and algorithm.
type Key struct {
	Kid     string
	Alg     string
	Private crypto.Signer
}

// NewRSA returns a 2048-bit RSA key for RS256.
func NewRSA(kid string) *Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // test support: crypto/rand does not fail
	}
	return &Key{Kid: kid, Alg: "RS256", Private: k}
}

// NewEC returns a P-256 key for ES256.
func NewEC(kid string) *Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return &Key{Kid: kid, Alg: "ES256", Private: k}
}

// JWKS is the public JSON Web Key Set of the keys.
func JWKS(keys ...*Key) []byte {
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := jwk.FromRaw(k.Private.Public())
		if err != nil {
			panic(err)
		}
		_ = pub.Set(jwk.KeyIDKey, k.Kid)
		_ = pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(k.Alg))
		_ = set.AddKey(pub)
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

// Claims are a token's claims; Standard fills the usual ones.
type Claims map[string]any

// Standard returns claims for issuer and audience valid for an hour, for
// subject sub, with the given scope string.
func Standard(issuer, audience, sub, scope string) Claims {
	now := time.Now()
	return Claims{"iss": issuer, "aud": audience, "sub": sub, "scope": scope,
		"iat": now.Unix(), "nbf": now.Unix() - 1, "exp": now.Add(time.Hour).Unix()}
}

// With returns a copy of c with the given claims changed.
func (c Claims) With(kv ...any) Claims {
	out := Claims{}
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// Sign returns a compact JWS of the claims signed by k (kid in header).
func (k *Key) Sign(c Claims) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.Kid)
	_ = hdr.Set(jws.TypeKey, "JWT")
	tok, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.Alg), k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		panic(err)
	}
	return string(tok)
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// None returns an unsigned token with alg "none".
func None(kid string, c Claims) string {
	return b64(map[string]string{"alg": "none", "kid": kid, "typ": "JWT"}) + "." + b64(c) + "."
}

// HS256WithPublicKey is the algorithm-confusion attack: an HS256 token
// whose HMAC secret is the RSA key's public key (PEM), as a verifier that
// trusts the header's alg would compute it.
func (k *Key) HS256WithPublicKey(c Claims) string {
	der, err := x509.MarshalPKIXPublicKey(k.Private.Public())
	if err != nil {
		panic(err)
	}
	pemKey := "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
	input := b64(map[string]string{"alg": "HS256", "kid": k.Kid, "typ": "JWT"}) + "." + b64(c)
	mac := hmac.New(sha256.New, []byte(pemKey))
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Tamper replaces a signed token's payload with other claims, keeping the
// original header and signature.
func Tamper(token string, c Claims) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		panic(fmt.Sprintf("not a compact JWS: %q", token))
	}
	return parts[0] + "." + b64(c) + "." + parts[2]
}
