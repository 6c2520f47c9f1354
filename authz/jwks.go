package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// keySet is one parsed JWKS: public keys by kid. It is immutable; a
// refresh publishes a new one.
type keySet struct {
	byKid map[string]*publicKey
	all   []*publicKey
	// gen identifies the content, so cached tokens are re-checked only
	// when the keys actually change.
	gen uint64
}

// publicKey is a JWKS key converted once to its Go form.
type publicKey struct {
	kid string
	alg string // the key's own "alg", if it states one
	raw any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// parseKeySet parses a JWKS with jwx, keeping only public asymmetric
// keys: a symmetric ("oct") key in a published set would let anyone who
// reads it sign tokens.
func parseKeySet(data []byte) (*keySet, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	sum := sha256.Sum256(data)
	ks := &keySet{byKid: map[string]*publicKey{}, gen: binary.BigEndian.Uint64(sum[:8])}
	for i := range set.Len() {
		k, _ := set.Key(i)
		var raw any
		if err := k.Raw(&raw); err != nil {
			continue
		}
		switch r := raw.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		case *rsa.PrivateKey:
			raw = &r.PublicKey
		case *ecdsa.PrivateKey:
			raw = &r.PublicKey
		default:
			continue
		}
		pk := &publicKey{kid: k.KeyID(), alg: k.Algorithm().String(), raw: raw}
		ks.all = append(ks.all, pk)
		if pk.kid != "" {
			if _, dup := ks.byKid[pk.kid]; !dup {
				ks.byKid[pk.kid] = pk
			}
		}
	}
	if len(ks.all) == 0 {
		return nil, fmt.Errorf("the JWKS holds no usable public key")
	}
	return ks, nil
}

// jwksState is what a source has: the last good key set, when it was
// last fetched successfully, and whether the latest fetch failed.
type jwksState struct {
	keys      *keySet
	fetchedAt time.Time
	// failing is set by a failed fetch and cleared by the next good one.
	// Keys age a whole refresh interval between healthy fetches, so age
	// alone says nothing about an outage: only a failing source can be
	// stale.
	failing bool
}

// staleAt reports whether the keys count as stale at now: the source is
// failing and its last good fetch is older than maxStale.
func (st *jwksState) staleAt(now time.Time, maxStale time.Duration) bool {
	return st.failing && now.Sub(st.fetchedAt) > maxStale
}

// jwksSource keeps a provider's key set fresh: from a file (static), or
// from a URL fetched in the background every refresh interval and, when
// a token names an unknown kid, sooner (at most once per
// unknownKidInterval). Requests only read the published state; they never
// wait on the network.
type jwksSource struct {
	issuer     string
	uri        string
	refresh    time.Duration
	maxStale   time.Duration
	minRefetch time.Duration // unknownKidInterval when created
	client     *http.Client
	log        *slog.Logger
	metrics    *metrics

	state atomic.Pointer[jwksState] // swapped by the fetch loop, read by requests
	kick  chan struct{}             // capacity 1: coalesces refetch requests

	mu      sync.Mutex // guards cancel and done
	cancel  context.CancelFunc
	done    chan struct{}
	lastTry atomic.Int64 // unix nanos of the last fetch attempt
	// lastErr is the last failed fetch's error while failing, nil once a
	// fetch succeeds (for the status page).
	lastErr atomic.Pointer[string]
}

// unknownKidInterval bounds refetches caused by tokens naming a kid the
// set lacks, so random kids cannot turn Tollgate into a load generator
// against the identity provider.
var unknownKidInterval = 2 * time.Second

const maxJWKSBytes = 1 << 20

// fetchTimeout bounds one JWKS request of a URL source (a variable for
// tests, which make contexts alone end fetches).
var fetchTimeout = 5 * time.Second

func newStaticSource(issuer string, data []byte) (*jwksSource, error) {
	ks, err := parseKeySet(data)
	if err != nil {
		return nil, err
	}
	s := &jwksSource{issuer: issuer}
	s.state.Store(&jwksState{keys: ks, fetchedAt: time.Now()})
	return s, nil
}

func newURLSource(issuer, uri string, refresh, maxStale time.Duration, log *slog.Logger, m *metrics) *jwksSource {
	return &jwksSource{
		issuer: issuer, uri: uri, refresh: refresh, maxStale: maxStale, minRefetch: unknownKidInterval, log: log, metrics: m,
		client: &http.Client{Timeout: fetchTimeout},
		kick:   make(chan struct{}, 1),
	}
}

// static reports whether the keys come from a file (never stale).
func (s *jwksSource) static() bool { return s.uri == "" }

// current is the key set being served and its age, or nil before the
// first successful fetch.
func (s *jwksSource) current() *jwksState { return s.state.Load() }

// refetch asks the loop for an early fetch, without waiting.
func (s *jwksSource) refetch() {
	if s.static() {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// start runs the refresh loop until stop.
func (s *jwksSource) start() {
	if s.static() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.loop(ctx, s.done)
}

func (s *jwksSource) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *jwksSource) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	next := s.refresh
	if s.current() == nil {
		next = 0
	}
	timer := time.NewTimer(next)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			wait := time.Until(time.Unix(0, s.lastTry.Load()).Add(s.minRefetch))
			if wait > 0 {
				timer.Reset(wait)
				continue
			}
		case <-timer.C:
		}
		err := s.fetch(ctx)
		next = s.refresh
		if err != nil {
			// Retry sooner than a full interval while failing.
			next = min(s.refresh, time.Second)
		}
		timer.Reset(next)
	}
}

// fetch gets and parses the JWKS once, publishing it on success. A
// failure keeps the last good set, and is logged and counted.
func (s *jwksSource) fetch(ctx context.Context) error {
	s.lastTry.Store(time.Now().UnixNano())
	ks, err := s.get(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.failed(err)
		return err
	}
	s.state.Store(&jwksState{keys: ks, fetchedAt: time.Now()})
	s.lastErr.Store(nil)
	s.metrics.jwksFetch(s.issuer, "ok")
	s.metrics.jwksFetched(s.issuer)
	s.metrics.jwksStale(s.issuer, false)
	return nil
}

// failed logs and counts a failed fetch; past max_stale it raises the
// stale gauge and logs at error level: that is the outage alert.
func (s *jwksSource) failed(err error) {
	s.metrics.jwksFetch(s.issuer, "error")
	msg := err.Error()
	s.lastErr.Store(&msg)
	st := s.current()
	if st != nil && !st.failing {
		st = &jwksState{keys: st.keys, fetchedAt: st.fetchedAt, failing: true}
		s.state.Store(st)
	}
	if st == nil || st.staleAt(time.Now(), s.maxStale) {
		s.metrics.jwksStale(s.issuer, true)
		s.log.Error("JWKS unavailable beyond max_stale; the provider's outage mode applies", "issuer", s.issuer, "uri", s.uri, "max_stale", s.maxStale, "error", err)
		return
	}
	s.log.Warn("JWKS fetch failed; serving the last good keys", "issuer", s.issuer, "uri", s.uri,
		"age", time.Since(st.fetchedAt).Round(time.Millisecond).String(), "error", err)
}

func (s *jwksSource) get(ctx context.Context) (*keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, err
	}
	return parseKeySet(data)
}
