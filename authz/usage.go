package authz

import (
	"context"
	"encoding/json"
	"errors"
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

// UsagePath is where the last-used times of a keys file are kept.
func UsagePath(keysFile string) string { return keysFile + ".last-used.json" }

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

// Flush merges the times in memory into the file at path (keeping the
// later of the two, so several Tollgates sharing a file do not go back in
// time), if anything changed since the last flush.
func (u *Usage) Flush(path string) error {
	if !u.dirty.Swap(false) {
		return nil
	}
	merged, err := ReadUsage(path)
	if err != nil {
		merged = map[string]time.Time{}
	}
	for id, t := range u.Snapshot() {
		if t.After(merged[id]) {
			merged[id] = t
		}
	}
	data, err := json.MarshalIndent(merged, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(data, '\n'), 0o644, 0o755); err != nil {
		u.dirty.Store(true)
		return err
	}
	return nil
}

// RunFlusher flushes every interval to the path returned by pathFn (the
// serving keys file's, which a reload may change) until ctx ends, and
// once more then.
func (u *Usage) RunFlusher(ctx context.Context, interval time.Duration, pathFn func() string, log *slog.Logger, failed func()) {
	flush := func() {
		path := pathFn()
		if path == "" {
			return
		}
		if err := u.Flush(path); err != nil {
			failed()
			log.Warn("writing API key last-used times", "path", path, "error", err)
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
