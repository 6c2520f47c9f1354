package watch

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Dirs is Dir for a root directory, its immediate subdirectories, and the
// directories extra returns, which it asks again after every onChange: the
// policy names certificate and key files, possibly in a subdirectory or
// elsewhere, and a file replaced there must be noticed like a policy edit.
// A directory that cannot be watched (not there yet) is left to the poll.
// onChange runs once as soon as the watches are set, so that a change made
// while Dirs was starting is not missed.
func Dirs(ctx context.Context, root string, extra func() []string, debounce, poll time.Duration, log *slog.Logger, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", root, err)
	}
	defer w.Close()
	if err := w.Add(root); err != nil {
		return fmt.Errorf("watching %s: %w", root, err)
	}
	watched := []string{root}
	resync := func() {
		want := subdirs(root)
		if extra != nil {
			want = append(want, extra()...)
		}
		watched = syncWatches(w, root, watched, want, log)
	}
	changed := func() { onChange(); resync() }
	resync()
	// The caller read the directory before calling Dirs; a change made
	// before the watches above existed raised no event. One onChange now
	// catches up with it, instead of leaving it to the poll.
	changed()
	// The timer fires onChange once events have been quiet for debounce.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			log.Debug("policy directory event", "file", ev.Name, "op", ev.Op.String())
			timer.Reset(debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("watching policy directory", "dir", root, "error", err)
		case <-timer.C:
			changed()
		case <-ticker.C:
			changed()
		}
	}
}

// syncWatches makes w watch root and want, and nothing else; it returns
// what is watched now.
func syncWatches(w *fsnotify.Watcher, root string, watched, want []string, log *slog.Logger) []string {
	now := []string{root}
	for _, dir := range watched {
		if dir != root && !slices.Contains(want, dir) {
			_ = w.Remove(dir)
		}
	}
	for _, dir := range want {
		if dir == root || slices.Contains(now, dir) {
			continue
		}
		if !slices.Contains(watched, dir) {
			if err := w.Add(dir); err != nil {
				log.Warn("cannot watch directory; relying on the poll", "dir", dir, "error", err)
				continue
			}
		}
		now = append(now, dir)
	}
	return now
}
