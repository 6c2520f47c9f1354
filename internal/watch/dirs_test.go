package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file replaced in a directory the policy names (certs/) must trigger a
// reload like an edit of the policy directory itself.
func TestDirsWatchesExtraDirectories(t *testing.T) {
	root := t.TempDir()
	certs := filepath.Join(root, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 10)
	startDirs(t, root, func() []string { return []string{certs} }, func() { changed <- struct{}{} })
	// Writes until the watcher, started concurrently, reports one.
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		if err := os.WriteFile(filepath.Join(certs, "server.pem"), []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			return
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("a change in an extra directory was not reported")
		}
	}
}

// A change made while Dirs is still setting up its watches (between the
// caller's first read of the directory and the watch) must not wait for
// the poll: devstack's policy copy and serve's first load both race the
// watch's start. The poll here is an hour, so only Dirs itself can see it.
func TestDirsSeesAChangeMadeAsItStarts(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "gateway.yaml")
	if err := os.WriteFile(file, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 10)
	startDirs(t, root, nil, func() {
		data, _ := os.ReadFile(file)
		seen <- string(data)
	})
	if err := os.WriteFile(file, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case content := <-seen:
			if content == "new" {
				return
			}
		case <-deadline:
			t.Fatal("a change made as the watch started was not reported")
		}
	}
}

// Kubernetes mounts a ConfigMap or Secret as a directory of symlinks into
// a hidden, timestamped directory: gateway.yaml -> ..data/gateway.yaml,
// ..data -> ..2026_x. An update writes a new timestamped directory and
// renames a new ..data symlink over the old one; no file the policy
// names is written. The watcher must still report it, and the caller
// must then read the new content through the same paths.
func TestDirsSeesAKubernetesConfigMapSwap(t *testing.T) {
	root := t.TempDir()
	writeGeneration(t, root, "..2026_11_30_00_00_00.1", "v1")
	if err := os.Symlink("..2026_11_30_00_00_00.1", filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "gateway.yaml")
	if err := os.Symlink("..data/gateway.yaml", file); err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 100)
	startDirs(t, root, nil, func() {
		data, _ := os.ReadFile(file)
		seen <- string(data)
	})
	// The first onChange (Dirs' catch-up) comes once the watches are set:
	// only then is the swap sure to raise an event.
	if got := <-seen; got != "v1" {
		t.Fatalf("first read %q, want v1", got)
	}
	writeGeneration(t, root, "..2026_11_30_00_01_00.2", "v2")
	tmp := filepath.Join(root, "..data_tmp")
	if err := os.Symlink("..2026_11_30_00_01_00.2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "..2026_11_30_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case got := <-seen:
			if got == "v2" {
				return
			}
		case <-deadline:
			t.Fatal("the ..data swap was not reported (the poll is an hour, so only an event can)")
		}
	}
}

// writeGeneration writes one timestamped ConfigMap generation.
func writeGeneration(t *testing.T, root, name, content string) {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startDirs runs Dirs on root until the test ends (a 20 ms debounce and an
// hour's poll, so only events can report a change) and checks it ended
// cleanly.
func startDirs(t *testing.T, root string, extra func() []string, onChange func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Dirs(ctx, root, extra, 20*time.Millisecond, time.Hour, slog.New(slog.DiscardHandler), onChange)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}
