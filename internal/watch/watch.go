// Package watch tells when the files of a directory change, so that policy
// (and later key and certificate) files are reloaded without a restart.
package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir calls onChange after files in dir change, once per burst of events
// (an editor's save is often several), and also every poll interval as a
// safety net for file systems whose events do not reach us (some network
// and container mounts). onChange must be cheap to call when nothing
// changed; the reloader makes it so by comparing content versions. Dir
// returns when ctx ends, or at once if the directory cannot be watched.
func Dir(ctx context.Context, dir string, debounce, poll time.Duration, log *slog.Logger, onChange func()) error {
	return Dirs(ctx, dir, nil, debounce, poll, log, onChange)
}

// subdirs lists the directory's immediate, non-hidden subdirectories,
// where files the policy names usually live (keys/keys.yaml,
// certs/api.pem). fsnotify is not recursive; a subdirectory created later
// is picked up after the next change or poll.
func subdirs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}
