package authz

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/authtest"
)

// The fuzz targets run their seed corpus in every `go test`; run them for
// longer with `go test ./authz/ -fuzz FuzzParseKey` (one target at a time).

func FuzzParseKey(f *testing.F) {
	k, _, _ := NewKey("partner-a")
	for _, s := range []string{k, "", "tg_", "tg__", "tg_a_", "tg_a_" + strings.Repeat("a", 32), "tg_A_" + strings.Repeat("a", 32),
		"tg_a-b_c_" + strings.Repeat("2", 32), strings.Repeat("_", 200), "tg_\x00_\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseKey(s)
		if err == nil && (!ValidKeyID(id) || !strings.HasPrefix(s, KeyPrefix+id+"_")) {
			t.Fatalf("ParseKey(%q) accepted id %q", s, id)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	key := authtest.NewEC("ec-1")
	good := key.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "x"))
	for _, s := range []string{good, "", ".", "..", "a.b.c", "e30.e30.", "e30.e30.AA", "eyJhbGciOiJub25lIn0.e30.AA",
		authtest.None("k", authtest.Claims{"iss": testIssuer}), good + "=", strings.Repeat("a.", 3)} {
		f.Add(s)
	}
	fx := newFixture(f, "")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err == nil && tok.header.Alg == "" {
			t.Fatalf("ParseToken(%q) accepted a token without alg", s)
		}
		// Whatever the token, the engine answers with a clean 401.
		if d := fx.check("read", "/orders", bearer(s)); d.Status != 401 {
			t.Fatalf("token %q: status %d %s", s, d.Status, d.Reason)
		}
	})
}

func FuzzParseKeysFile(f *testing.F) {
	for _, s := range []string{"keys: []", "keys:\n  - id: a\n    secrets: [{ sha256: " + strings.Repeat("ab", 32) + " }]\n", "keys: [null]", "keys: {}", "x: 1", "- a", "keys:\n  - id: a\n    id: b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kf, err := ParseKeysFile("keys.yaml", []byte(s))
		if err == nil {
			compileKeys(kf) // must not panic on anything ParseKeysFile accepts
		}
	})
}
