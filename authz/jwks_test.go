package authz

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/authtest"
)

// jwksServer serves a JWKS that tests replace, or fail with 500.
type jwksServer struct {
	body  atomic.Pointer[[]byte]
	down  atomic.Bool
	calls atomic.Int64
	*httptest.Server
}

func newJWKSServer(t *testing.T, keys ...*authtest.Key) *jwksServer {
	s := &jwksServer{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.calls.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...*authtest.Key) {
	b := authtest.JWKS(keys...)
	s.body.Store(&b)
}

func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJWKSRotationStaleAndOutage(t *testing.T) {
	// Sources copy the interval when created, so restoring it at the end
	// races with nothing.
	defer func(old time.Duration) { unknownKidInterval = old }(unknownKidInterval)
	unknownKidInterval = 50 * time.Millisecond

	idp := newJWKSServer(t)
	f := newFixture(t, idp.URL)
	idp.set(f.rsa) // the fixture made its keys after the server started
	f.reload(t)    // same source: not refetched
	claims := authtest.Standard(testIssuer, "orders-api", "alice", "orders:read")
	oldTok := f.rsa.Sign(claims)
	ok := func(tok string) *Decision { return f.check("read", "/orders", bearer(tok)) }

	// The first fetch happened before idp.set; the unknown kid refetches.
	waitFor(t, "the rotated-in key to verify", func() bool { return ok(oldTok).Allowed() })

	// Rotation: a new key appears; the first token naming it is refused
	// (unknown kid) and triggers a refetch; then it passes. The old key
	// keeps passing while it is in the set.
	next := authtest.NewEC("ec-2")
	idp.set(f.rsa, next)
	newTok := next.Sign(claims)
	if d := ok(newTok); d.Reason != "unknown_kid" {
		t.Fatalf("token of a key not yet fetched: %d %s", d.Status, d.Reason)
	}
	waitFor(t, "the new key", func() bool { return ok(newTok).Allowed() })
	if d := ok(oldTok); !d.Allowed() {
		t.Errorf("the old key stopped working while still published: %s", d.Reason)
	}

	// The old key is removed: once refetched, its tokens fail, cached or not.
	idp.set(next)
	f.e.rules.Load().providers[testIssuer].source.refetch()
	waitFor(t, "the old key's removal", func() bool { return ok(oldTok).Reason == "unknown_kid" })

	// The IdP goes down: cached keys keep working within max_stale (1m).
	idp.down.Store(true)
	source := f.e.rules.Load().providers[testIssuer].source
	source.refetch()
	// The source, not the server, says when the failure is recorded: the
	// server counts the call before the client has read the answer.
	waitFor(t, "a failed fetch", func() bool { return source.current().failing })
	if d := ok(newTok); !d.Allowed() {
		t.Errorf("a JWKS outage within max_stale refused a good token: %s", d.Reason)
	}

	// Beyond max_stale the outage mode (deny) answers 503, not 401.
	f.now = time.Now().Add(2 * time.Minute)
	if d := ok(newTok); d.Status != 503 || d.Reason != "jwks_stale" {
		t.Errorf("beyond max_stale: got %d %s, want 503 jwks_stale", d.Status, d.Reason)
	}

	// Recovery is automatic: the loop retries and the next fetch succeeds.
	idp.down.Store(false)
	f.now = time.Now()
	waitFor(t, "recovery", func() bool { f.now = time.Now(); return ok(newTok).Allowed() })
}

// Keys age between two healthy fetches (a refresh interval, plus the
// fetch itself): age alone must never put a provider in outage, or valid
// tokens fail while the IdP is up. Only a failed fetch starts the
// max_stale clock's consequences.
func TestJWKSAgeWithoutFailedFetchIsNotAnOutage(t *testing.T) {
	idp := newJWKSServer(t)
	f := newFixture(t, idp.URL)
	idp.set(f.rsa)
	tok := f.rsa.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "orders:read"))
	ok := func() *Decision { return f.check("read", "/orders", bearer(tok)) }
	waitFor(t, "the key to verify", func() bool { return ok().Allowed() })

	// The keys are older than max_stale (1m) and no fetch has failed.
	f.now = time.Now().Add(2 * time.Minute)
	if d := ok(); !d.Allowed() {
		t.Fatalf("old keys from a healthy IdP refused a good token: %d %s", d.Status, d.Reason)
	}

	// A failed fetch makes the same age an outage.
	idp.down.Store(true)
	calls := idp.calls.Load()
	f.e.rules.Load().providers[testIssuer].source.refetch()
	waitFor(t, "a failed fetch", func() bool { return idp.calls.Load() > calls && ok().Status == 503 })
}
