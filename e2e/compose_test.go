package e2e

import (
	"context"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

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

// TestComposeEnvoyUsesTheBootstrapTollgateWrites: the compose file's Envoy
// reads the bootstrap that its envoy-bootstrap service writes with
// `tollgate bootstrap`, through one named volume. The service's arguments
// are run with this tree's binary (so its flag parsing accepts them) and
// Envoy validates what they write.
func TestComposeEnvoyUsesTheBootstrapTollgateWrites(t *testing.T) {
	services := composeServices(t)
	gen, proxy := services["envoy-bootstrap"], services["envoy"]
	if len(gen.Command) == 0 || gen.Command[0] != "bootstrap" {
		t.Fatalf("envoy-bootstrap runs %q, want tollgate bootstrap", gen.Command)
	}
	args := slices.Clone(gen.Command)
	i := slices.Index(args, "--output")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("envoy-bootstrap %q has no --output", args)
	}
	written := args[i+1]
	config := proxy.Command[slices.Index(proxy.Command, "-c")+1]
	if hostOf(gen.Volumes, written) == "" || hostOf(gen.Volumes, written) != hostOf(proxy.Volumes, config) {
		t.Fatalf("envoy-bootstrap writes %s (%v) but Envoy reads %s (%v): not the same volume", written, gen.Volumes, config, proxy.Volumes)
	}
	if path.Base(written) != path.Base(config) || strings.Contains(strings.Join(proxy.Volumes, " "), "./envoy/") {
		t.Errorf("Envoy reads %s, %v; want the generated %s and no committed bootstrap", config, proxy.Volumes, written)
	}

	args[i+1] = filepath.Join(t.TempDir(), "bootstrap.yaml")
	if out, err := exec.Command(tollgateBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("tollgate %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	bin := requireEnvoy(t)
	if out, err := exec.Command(bin, "--mode", "validate", "-c", args[i+1], "--disable-hot-restart", "--log-level", "error").CombinedOutput(); err != nil {
		t.Errorf("envoy --mode validate of the compose bootstrap: %v\n%s", err, out)
	}
}

// composeService is what the test reads of `docker-compose config`.
type composeService struct {
	Command []string `yaml:"command"`
	Volumes []string `yaml:"volumes"`
}

func composeServices(t *testing.T) map[string]composeService {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skipf("no docker-compose (make deps-compose installs it): %v", err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "config")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose config: %v", err)
	}
	var file struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(out, &file); err != nil {
		t.Fatal(err)
	}
	return file.Services
}

// hostOf names the volume ("source:target[:mode]") holding file, or "".
func hostOf(volumes []string, file string) string {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && path.Dir(file) == parts[1] {
			return parts[0]
		}
	}
	return ""
}
