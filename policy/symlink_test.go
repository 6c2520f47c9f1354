package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// A Kubernetes ConfigMap mounted as a directory holds each key as a
// symlink (gateway.yaml -> ..data/gateway.yaml) into a hidden,
// timestamped directory (..data -> ..2026_11_30_00_00_00.1). Load must
// read the files through the symlinks and skip the hidden entries.
func TestLoadReadsAConfigMapMount(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "..2026_11_30_00_00_00.1")
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(gen, "gateway.yaml"), []byte(validPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"..data":       "..2026_11_30_00_00_00.1",
		"gateway.yaml": "..data/gateway.yaml",
		// A symlink to a directory is not a policy file, whatever its name.
		"dir.yaml": "..2026_11_30_00_00_00.1",
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatalf("Load of a ConfigMap mount: %v", err)
	}
	if len(p.Files) != 1 || filepath.Base(p.Files[0]) != "gateway.yaml" {
		t.Errorf("files read %v, want only gateway.yaml", p.Files)
	}
}
