// Package testenv is test support for the tests that need more than Go:
// it decides, in one place, whether a test that needs an outside program
// (Envoy, redis-server, docker-compose) runs, and it holds the locked
// buffer such tests collect a process's output in.
//
// The rule, for every such test: under -short (make unit) it is skipped,
// so the inner loop needs neither Envoy nor Redis; otherwise a missing
// program skips it locally, with the command that installs the program,
// and fails it under CI=true, where a missing program means the pipeline
// is broken and a skip would hide that.
package testenv

import (
	"os"
	"testing"
)

// Require returns the path of the outside program what, found by find,
// or ends the test: skipped under -short, skipped locally when find
// fails (install names the command that installs it), failed under
// CI=true when find fails.
func Require(t testing.TB, what, install string, find func() (string, error)) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s: skipped under -short", what)
	}
	bin, err := find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s is missing (%s installs it): %v", what, install, err)
		}
		t.Skipf("no %s (%s installs it): %v", what, install, err)
	}
	return bin
}
