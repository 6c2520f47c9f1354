package policy

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRateLimitHeaders(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want RateLimitHeaderFormat
	}{
		{"", HeadersDraft},
		{"rate_limit_headers: draft\n", HeadersDraft},
		{"rate_limit_headers: legacy\n", HeadersLegacy},
		{"rate_limit_headers: both\n", HeadersBoth},
		{"rate_limit_headers: none\n", HeadersNone},
	} {
		p, err := Load(writePolicy(t, map[string]string{"g.yaml": "rate_limits:\n  a: { token_bucket: { rate: 1/s } }\n" + tc.yaml}))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := p.RateLimitHeaders.Format; got != tc.want {
			t.Errorf("%q: format %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

func TestLoadRejectsInvalidRateLimitHeadersWithPositions(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"unknown", "rate_limits: {}\nrate_limit_headers: draft-06\n", []string{
			`2:21: rate_limit_headers: unknown header format "draft-06"; expected draft`,
		}},
		{"empty string", "rate_limit_headers: ''\n", []string{`1:21: rate_limit_headers: unknown header format ""`}},
		{"null", "rate_limit_headers:\n", []string{`1:20: rate_limit_headers: expected one of draft, legacy, both or none, found`}},
		{"mapping", "rate_limit_headers: { format: legacy }\n", []string{`1:21: rate_limit_headers: expected one of draft, legacy, both or none, found`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestLoadRejectsRateLimitHeadersTwice(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"a.yaml": "rate_limit_headers: legacy\n",
		"b.yaml": "\nrate_limit_headers: draft\n",
	})
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + `:2:21: rate_limit_headers: rate_limit_headers is already defined at ` + filepath.Join(dir, "a.yaml") + ":1:21"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestLimitNamesAreSafeSFStrings: the draft fields send limit names as
// RFC 9651 strings, which hold printable ASCII only and need '"' and '\'
// escaped; validation keeps names to letters, digits, '.', '_' and '-',
// so a name that would need escaping or could not be sent is refused
// where it is written.
func TestLimitNamesAreSafeSFStrings(t *testing.T) {
	checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": "rate_limits:\n" +
		"  'caf\u00e9': { token_bucket: { rate: 1/s } }\n" +
		"  'a\"b': { token_bucket: { rate: 1/s } }\n" +
		"  'a\\b': { token_bucket: { rate: 1/s } }\n"}), []string{
		`2:11: rate_limits.café: "café" is not a valid limit name`,
		`3:10: rate_limits.a"b: "a\"b" is not a valid limit name`,
		`4:10: rate_limits.a\b: "a\\b" is not a valid limit name`,
	})
}
