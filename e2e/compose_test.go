package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
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

// composeHealthChecks are the health check commands of docker-compose.yaml,
// by service.
func composeHealthChecks(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for name, s := range f.Services {
		out[name] = s.Healthcheck.Test
	}
	return out
}

// runHealthCheck runs a compose health check (["CMD", argv...]) on this
// machine, with the service's fixed address replaced by the test's and the
// image's tollgate by the one built for the tests; nil means healthy.
func runHealthCheck(t *testing.T, test []string, replace *strings.Replacer) error {
	t.Helper()
	if len(test) < 2 || test[0] != "CMD" {
		t.Fatalf("health check %q is not [CMD, ...]", test)
	}
	argv := make([]string, len(test)-1)
	for i, a := range test[1:] {
		argv[i] = replace.Replace(a)
	}
	if argv[0] == "/usr/local/bin/tollgate" {
		argv[0] = tollgateBin
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%q: %v\n%s", argv, err, out)
	}
	return nil
}

// TestComposeHealthChecksFollowReadiness runs the compose file's health
// checks of Tollgate and Envoy against the real processes: Tollgate's
// fails while its policy is invalid and passes once it serves one;
// Envoy's (bash and /dev/tcp, the Envoy image has no curl) passes when
// Envoy is live and fails when nothing answers.
func TestComposeHealthChecksFollowReadiness(t *testing.T) {
	t.Parallel()
	requireEnvoy(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	checks := composeHealthChecks(t)

	listener := strings.ReplaceAll(listenerYAML, "{{PORT}}", strings.Split(freeAddr(t), ":")[1])
	dir := policyDir(t, map[string]string{
		"gateway.yaml": listener + servicesYAML(t, "orders") + "routes:\n  - { name: orders, to: nowhere }\n",
	})
	tg := startTollgateUnready(t, dir)
	atTollgate := strings.NewReplacer("127.0.0.1:18001", tg.adminAddr)
	if err := runHealthCheck(t, checks["tollgate"], atTollgate); err == nil {
		t.Fatal("tollgate's health check passed with an invalid policy")
	}
	writeFile(t, filepath.Join(dir, "gateway.yaml"), listener+servicesYAML(t, "orders")+"routes:\n  - { name: orders, to: orders }\n")
	eventually(t, 10*time.Second, func() error { return runHealthCheck(t, checks["tollgate"], atTollgate) })

	p := startEnvoy(t, tg.grpcAddr, "default", false)
	u, err := url.Parse(p.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	if err := runHealthCheck(t, checks["envoy"], strings.NewReplacer("127.0.0.1/9901", u.Hostname()+"/"+u.Port())); err != nil {
		t.Errorf("envoy's health check, Envoy live: %v", err)
	}
	closed := strings.Split(freeAddr(t), ":")[1]
	if err := runHealthCheck(t, checks["envoy"], strings.NewReplacer("127.0.0.1/9901", "127.0.0.1/"+closed)); err == nil {
		t.Error("envoy's health check passed with nothing listening")
	}
}
