// Package policytest builds the policies tests use the one way Tollgate
// builds them: from YAML, through policy.Load. A test policy is then
// validated and defaulted like any other, so the translator, the authz
// engine and the rate limiter are only ever tested on resolved values:
// there is no hand-built policy for them to fall back on defaults for.
package policytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/policy"
)

// Load loads a policy written as the YAML of one policy file (several
// documents separated by "---" are merged, as in any policy file). Any
// error fails the test.
func Load(tb testing.TB, yaml string) *policy.Policy {
	tb.Helper()
	return LoadFiles(tb, map[string]string{"policy.yaml": yaml})
}

// LoadFiles writes files (name relative to a fresh directory, such as
// "gateway.yaml" or "keys/keys.yaml") and loads the directory as a policy.
// Any error fails the test.
func LoadFiles(tb testing.TB, files map[string]string) *policy.Policy {
	tb.Helper()
	p, err := policy.Load(Dir(tb, files))
	if err != nil {
		tb.Fatalf("loading the test policy: %v", err)
	}
	return p
}

// Dir writes files into a fresh directory, removed when the test ends, and
// returns it: for tests that load or watch the directory themselves.
func Dir(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
