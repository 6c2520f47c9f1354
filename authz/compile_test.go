package authz

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tollgate/tollgate/internal/authtest"
	"github.com/tollgate/tollgate/policy"
)

// hangingIDP is an identity provider that answers no JWKS request until
// released: each request is announced on arrived, then waits for release
// or for the client to give up.
type hangingIDP struct {
	arrived chan struct{}
	release chan struct{}
	*httptest.Server
}

func newHangingIDP(t *testing.T) *hangingIDP {
	h := &hangingIDP{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case h.arrived <- struct{}{}:
		default:
		}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		http.Error(w, "released", http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(h.release); h.Close() })
	return h
}

// withJWKSURI is the fixture's policy with its provider's keys at uri
// instead of in a file: a new source, which Compile fetches.
func (f *fixture) withJWKSURI(t *testing.T, uri string) *policy.Policy {
	t.Helper()
	writeTestFile(t, filepath.Join(f.dir, "gateway.yaml"), strings.Replace(testPolicy, "JWKS_SOURCE", "jwks_uri: "+uri, 1))
	p, err := policy.Load(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// within runs fn and fails the test if it has not returned after a
// generous bound: the bound catches a deadlock, it measures nothing.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited on the JWKS fetch of a reload", what)
	}
}

// A reload fetching a new provider's JWKS holds no lock anything else
// needs: the serving generation decides and Close returns while the
// identity provider hangs. Cancelling the reload's context (serve
// stopping) ends the fetch: Compile returns context.Canceled and nothing
// to commit, and the serving generation stays.
func TestReloadFetchingJWKSBlocksNoDecisionAndEndsWithItsContext(t *testing.T) {
	defer func(first, each time.Duration) { firstFetchTimeout, fetchTimeout = first, each }(firstFetchTimeout, fetchTimeout)
	firstFetchTimeout, fetchTimeout = time.Hour, time.Hour // only the context ends the fetch

	f := newFixture(t, "")
	serving := f.e.rules.Load().version
	tok := f.rsa.Sign(authtest.Standard(testIssuer, "orders-api", "alice", "orders:read"))
	idp := newHangingIDP(t)
	p := f.withJWKSURI(t, idp.URL)

	ctx, cancel := context.WithCancel(t.Context())
	type result struct {
		commit func()
		err    error
	}
	compiled := make(chan result, 1)
	go func() {
		commit, err := f.e.Compile(ctx, p)
		compiled <- result{commit, err}
	}()
	select {
	case <-idp.arrived:
	case r := <-compiled:
		t.Fatalf("Compile returned before fetching the new provider's JWKS: %v", r.err)
	}

	within(t, "Check", func() {
		if d := f.check("read", "/orders", bearer(tok)); !d.Allowed() {
			t.Errorf("the serving generation refused a good token during a reload: %d %s", d.Status, d.Reason)
		}
	})
	within(t, "Close", f.e.Close)

	cancel()
	var r result
	within(t, "Compile after its context was cancelled", func() { r = <-compiled })
	if !errors.Is(r.err, context.Canceled) || r.commit != nil {
		t.Fatalf("a cancelled reload returned (commit %v, %v), want nothing to commit and context.Canceled", r.commit != nil, r.err)
	}
	if got := f.e.rules.Load().version; got != serving {
		t.Errorf("serving %s after a cancelled reload, want %s", got, serving)
	}
	if d := f.check("read", "/orders", bearer(tok)); !d.Allowed() {
		t.Errorf("after a cancelled reload the serving generation refused a good token: %d %s", d.Status, d.Reason)
	}
}

// The fetch's own timeout is not a cancellation: an identity provider
// that hangs delays the reload by firstFetchTimeout, then the generation
// commits, the timeout counts as a failed fetch and the provider's
// refresh loop keeps trying.
func TestReloadCommitsWhenTheIdPHangsPastTheFetchTimeout(t *testing.T) {
	defer func(old time.Duration) { firstFetchTimeout = old }(firstFetchTimeout)
	firstFetchTimeout = 50 * time.Millisecond

	f := newFixture(t, "")
	idp := newHangingIDP(t)
	p := f.withJWKSURI(t, idp.URL)
	var (
		commit func()
		err    error
	)
	within(t, "Compile past its fetch timeout", func() { commit, err = f.e.Compile(t.Context(), p) })
	if err != nil {
		t.Fatalf("a hanging identity provider failed the generation: %v", err)
	}
	commit()
	if got := f.e.rules.Load().version; got != p.Version {
		t.Errorf("serving %s, want the new generation %s", got, p.Version)
	}
	if got := testutil.ToFloat64(f.e.metrics.fetches.WithLabelValues(testIssuer, "error")); got < 1 {
		t.Errorf("failed JWKS fetches = %v, want the timed-out one counted", got)
	}
}
