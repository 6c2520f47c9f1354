package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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
