package policy

import (
	"go/build"
	"strings"
	"testing"
)

// The model must stay free of Envoy and gRPC types (DESIGN.md): only the
// xDS translator and the gRPC adapters may know them. This is our depguard.
func TestPolicyImportsNoEnvoyTypes(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/envoyproxy/") || strings.HasPrefix(imp, "google.golang.org/") {
			t.Errorf("package policy imports %s; keep Envoy and gRPC types out of the model", imp)
		}
	}
}
