package kubernetes

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/tollgate/tollgate/"

// The Kubernetes modules are for the tests only: no binary under cmd/
// imports this package or anything from k8s.io or sigs.k8s.io, directly
// or through the module's packages, so the binaries stay as they were.
func TestNoBinaryImportsKubernetes(t *testing.T) {
	root := filepath.Join(Dir(), "..", "..")
	cmds, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		seen := map[string]bool{}
		queue := []string{module + "cmd/" + c.Name()}
		for len(queue) > 0 {
			path := queue[0]
			queue = queue[1:]
			if seen[path] {
				continue
			}
			seen[path] = true
			pkg, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(path, module)), 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range pkg.Imports {
				switch {
				case strings.HasPrefix(imp, "k8s.io/"), strings.HasPrefix(imp, "sigs.k8s.io/"), imp == module+"deploy/kubernetes":
					t.Errorf("cmd/%s imports %s (through %s); the Kubernetes modules are test-only", c.Name(), imp, path)
				case strings.HasPrefix(imp, module):
					queue = append(queue, imp)
				}
			}
		}
		if len(seen) < 2 {
			t.Errorf("cmd/%s: walked only %v", c.Name(), seen)
		}
	}
}
