package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestComposeFileIsValid checks docker-compose.yaml the only way possible
// without a Docker engine: docker-compose parses, interpolates and validates
// it against the Compose schema.
func TestComposeFileIsValid(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but docker-compose is missing (make deps-compose installs it): %v", err)
		}
		t.Skipf("no docker-compose (make deps-compose installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "config", "-q")
	cmd.Dir = ".." // the repository root, where docker-compose.yaml lives
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
}
