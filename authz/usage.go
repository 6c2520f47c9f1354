package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate/tollgate/internal/atomicfile"
)

// Usage tracks when each API key was last used. A request only stores a
// timestamp in memory (at most once a second per key); Flush writes the
// times to a file beside the keys file every interval, so there is no
// disk write per request. The map is guarded by mu; each time is an
// atomic so that requests for a known key never take the lock.
type Usage struct {
	mu    sync.RWMutex
	times map[string]*atomic.Int64 // unix seconds
	dirty atomic.Bool
}

// NewUsage returns an empty tracker.
func NewUsage() *Usage { return &Usage{times: map[string]*atomic.Int64{}} }

// touch records a use of key id at now.
func (u *Usage) touch(id string, now time.Time) {
	sec := now.Unix()
	u.mu.RLock()
	t := u.times[id]
	u.mu.RUnlock()
	if t == nil {
		u.mu.Lock()
		if t = u.times[id]; t == nil {
			t = &atomic.Int64{}
			u.times[id] = t
		}
		u.mu.Unlock()
	}
	if t.Load() < sec {
		t.Store(sec)
		u.dirty.Store(true)
	}
}

// Snapshot returns the last-used times known in memory.
func (u *Usage) Snapshot() map[string]time.Time {
	u.mu.RLock()
	defer u.mu.RUnlock()
	out := make(map[string]time.Time, len(u.times))
	for id, t := range u.times {
		out[id] = time.Unix(t.Load(), 0).UTC()
	}
	return out
}

// UsageStore keeps API keys' last-used times where `tollgate keys list`
// reads them: a file beside the keys file (FileUsage), one per replica, or
// a store every replica shares (Redis, wired in cmd/tollgate, so that authz
// knows nothing of Redis).
type UsageStore interface {
	// Merge records times, keeping for each key the later of the stored
	// time and the given one, so that replicas never go back in time.
	Merge(ctx context.Context, times map[string]time.Time) error
	// Read returns every stored time.
	Read(ctx context.Context) (map[string]time.Time, error)
}

// UsagePath is where the last-used times of a keys file are kept.
func UsagePath(keysFile string) string { return keysFile + ".last-used.json" }

// FileUsage is the UsageStore of a last-used file (see UsagePath).
type FileUsage string

var _ UsageStore = FileUsage("")

// Read reads the file; a missing one is empty.
func (f FileUsage) Read(context.Context) (map[string]time.Time, error) { return ReadUsage(string(f)) }

// Merge merges times into the file, replacing it atomically. Several
// Tollgates sharing a file each keep the later time, though one replica's
// write between another's read and write can be lost: a shared store is
// for replicas.
func (f FileUsage) Merge(_ context.Context, times map[string]time.Time) error {
	merged, err := ReadUsage(string(f))
	if err != nil {
		merged = map[string]time.Time{}
	}
	for id, t := range times {
		if t.After(merged[id]) {
			merged[id] = t
		}
	}
	data, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(string(f), append(data, '\n'), 0o644, 0o755)
}

// ReadUsage reads a last-used file; a missing one is empty.
func ReadUsage(path string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, json.Unmarshal(data, &out)
}

// Flush merges the times in memory into the file at path; see FlushTo.
func (u *Usage) Flush(path string) error { return u.FlushTo(context.Background(), FileUsage(path)) }

// FlushTo merges the times in memory into store, if anything changed
// since the last flush; after a failure the next flush tries again.
func (u *Usage) FlushTo(ctx context.Context, store UsageStore) error {
	if !u.dirty.Swap(false) {
		return nil
	}
	if err := store.Merge(ctx, u.Snapshot()); err != nil {
		u.dirty.Store(true)
		return err
	}
	return nil
}

// flushTimeout bounds one flush, so that a store that does not answer
// cannot hold up a shutdown.
const flushTimeout = 5 * time.Second

// RunFlusher flushes every interval to the store returned by storeFn
// (the serving keys file's, or the shared store, which a reload may
// change; nil: nowhere yet) until ctx ends, and once more then.
func (u *Usage) RunFlusher(ctx context.Context, interval time.Duration, storeFn func() UsageStore, log *slog.Logger, failed func()) {
	flush := func() {
		store := storeFn()
		if store == nil {
			return
		}
		// The last flush runs after ctx ended: it gets time of its own.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if err := u.FlushTo(fctx, store); err != nil {
			failed()
			log.Warn("writing API key last-used times", "store", fmt.Sprint(store), "error", err)
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-t.C:
			flush()
		}
	}
}
