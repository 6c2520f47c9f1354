package authz

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordingStore is a UsageStore that keeps what it is given, and fails
// while fail is set.
type recordingStore struct {
	mu     sync.Mutex
	fail   bool
	merges []map[string]time.Time
	ctxErr []error
}

func (s *recordingStore) Merge(ctx context.Context, times map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctxErr = append(s.ctxErr, ctx.Err())
	if s.fail {
		return errors.New("store down")
	}
	s.merges = append(s.merges, times)
	return nil
}

func (s *recordingStore) Read(context.Context) (map[string]time.Time, error) { return nil, nil }

// A failed flush is retried by the next one; an unchanged tracker writes
// nothing.
func TestUsageFlushToRetriesAfterAFailure(t *testing.T) {
	u := NewUsage()
	store := &recordingStore{fail: true}
	u.touch("partner", time.Unix(100, 0))
	if err := u.FlushTo(context.Background(), store); err == nil {
		t.Fatal("a failing store reported no error")
	}
	store.fail = false
	if err := u.FlushTo(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	if len(store.merges) != 1 || !store.merges[0]["partner"].Equal(time.Unix(100, 0)) {
		t.Fatalf("merges after a retry: %v, want partner at 100", store.merges)
	}
	if err := u.FlushTo(context.Background(), store); err != nil || len(store.merges) != 1 {
		t.Errorf("an unchanged tracker flushed again (%v, %d merges)", err, len(store.merges))
	}
}

// The flush when serving ends runs with a context of its own: the serve
// context is cancelled by then, and a network store (Redis) would refuse
// a cancelled one, losing the last minute of usage.
func TestUsageLastFlushOutlivesTheServeContext(t *testing.T) {
	u := NewUsage()
	store := &recordingStore{}
	u.touch("partner", time.Unix(100, 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	u.RunFlusher(ctx, time.Hour, func() UsageStore { return store }, slog.New(slog.DiscardHandler), func() { t.Error("flush failed") })
	if len(store.ctxErr) != 1 || store.ctxErr[0] != nil {
		t.Errorf("the last flush's context errors: %v, want one live context", store.ctxErr)
	}
}
