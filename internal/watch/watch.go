// Package watch tells when the files of a directory change, so that policy
// (and later key and certificate) files are reloaded without a restart.
package watch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Dir calls onChange after files in dir change, once per burst of events
// (an editor's save is often several), and also every poll interval as a
// safety net for file systems whose events do not reach us (some network
// and container mounts). onChange must be cheap to call when nothing
// changed; the reloader makes it so by comparing content versions. Dir
// returns when ctx ends, or at once if the directory cannot be watched.
func Dir(ctx context.Context, dir string, debounce, poll time.Duration, log *slog.Logger, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	addSubdirs(w, dir, log)
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
			log.Warn("watching policy directory", "dir", dir, "error", err)
		case <-timer.C:
			onChange()
		case <-ticker.C:
			onChange()
		}
	}
}

// addSubdirs also watches the directory's immediate, non-hidden
// subdirectories, where files the policy names live (keys/keys.yaml).
// fsnotify is not recursive; a subdirectory created later is seen by the
// poll.
func addSubdirs(w *fsnotify.Watcher, dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if err := w.Add(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("watching policy subdirectory", "dir", e.Name(), "error", err)
			}
		}
	}
}
