package authz

import (
	"strings"
	"testing"
)

// The status page lists recent refusals with their route and reason, and
// never the credential that was refused.
func TestRecentDenialsListRefusalsWithoutCredentials(t *testing.T) {
	f := newFixture(t, "")
	if d := f.check("read", "/orders", map[string]string{"x-api-key": "tg_not-a-real-key"}); d.Allowed() {
		t.Fatal("a made-up key was allowed")
	}
	if d := f.check("read", "/orders", map[string]string{"x-api-key": f.keys["partner"]}); !d.Allowed() {
		t.Fatalf("the partner key was refused: %s", d.Reason)
	}
	got := f.e.RecentDenials()
	if len(got) != 1 {
		t.Fatalf("RecentDenials = %+v, want the one refusal", got)
	}
	if d := got[0]; d.Route != "read" || d.Status != 401 || d.Reason == "" || d.At.IsZero() {
		t.Errorf("denial = %+v, want route read, 401, a reason and a time", d)
	}
	if s := strings.Join([]string{got[0].Client, got[0].Reason}, " "); strings.Contains(s, "tg_not-a-real-key") {
		t.Errorf("denial carries the credential: %+v", got[0])
	}
}

// A JWKS URL that stops answering shows as failing, with the fetch's
// error, while the last good keys serve; a good fetch clears it.
func TestJWKSStatusShowsAFailingProvider(t *testing.T) {
	idp := newJWKSServer(t)
	f := newFixture(t, idp.URL)
	idp.set(f.rsa)
	source := f.e.rules.Load().providers[testIssuer].source
	source.refetch()
	waitFor(t, "a good fetch", func() bool { st := f.e.JWKS(); return len(st) == 1 && !st[0].Failing })
	if st := f.e.JWKS()[0]; st.Issuer != testIssuer || st.URI != idp.URL || st.Stale || st.FetchedAt.IsZero() || st.Error != "" {
		t.Errorf("healthy JWKS status = %+v", st)
	}

	idp.down.Store(true)
	source.refetch()
	waitFor(t, "a failed fetch", func() bool { return f.e.JWKS()[0].Failing })
	if st := f.e.JWKS()[0]; st.Stale || !strings.Contains(st.Error, "500") {
		t.Errorf("failing within max_stale: status = %+v, want not stale, with the fetch's error", st)
	}

	idp.down.Store(false)
	waitFor(t, "recovery", func() bool { return !f.e.JWKS()[0].Failing })
	if st := f.e.JWKS()[0]; st.Error != "" {
		t.Errorf("recovered: error %q still shown", st.Error)
	}
}
