package reloader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configMapGeneration writes content as gateway.yaml of a new timestamped
// directory in dir and points dir/..data at it the way the kubelet does:
// a new symlink renamed over the old one, so readers see one or the other.
func configMapGeneration(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name, "gateway.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(name, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/gateway.yaml", filepath.Join(dir, "gateway.yaml")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}

// A policy mounted from a ConfigMap is served, and a ConfigMap update (the
// ..data swap, which writes no file the policy names) is served after the
// next reload; internal/watch's TestDirsSeesAKubernetesConfigMapSwap shows
// the swap triggers that reload.
func TestReloadFollowsAConfigMapSwap(t *testing.T) {
	dir := t.TempDir()
	configMapGeneration(t, dir, "..2026_11_30_00_00_00.1", good)
	rec := &recorder{}
	rl, _ := newReloader(t, dir, rec.stage)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatalf("a ConfigMap mount: %v", err)
	}
	first := rl.Current().Policy.Version
	configMapGeneration(t, dir, "..2026_11_30_00_01_00.2", strings.Replace(good, "port: 8080", "port: 8081", 1))
	if err := os.RemoveAll(filepath.Join(dir, "..2026_11_30_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatalf("after the swap: %v", err)
	}
	if got := rl.Current().Policy.Version; got == first || len(rec.committed) != 2 {
		t.Errorf("after the swap version %s (was %s), committed %v: the new generation is not served", got, first, rec.committed)
	}
}
