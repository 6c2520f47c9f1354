package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/tollgate/tollgate/internal/testenv"
)

// TestComposeFileIsValid checks docker-compose.yaml the only way possible
// without a Docker engine: docker-compose parses, interpolates and validates
// it against the Compose schema.
func TestComposeFileIsValid(t *testing.T) {
	t.Parallel()
	bin := testenv.Require(t, "docker-compose", "make deps-compose", func() (string, error) {
		return exec.LookPath("docker-compose")
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "config", "-q")
	cmd.Dir = ".." // the repository root, where docker-compose.yaml lives
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
}
