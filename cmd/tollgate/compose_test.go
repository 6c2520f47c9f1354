package main

import (
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/policy"
)

// The checks below read docker-compose.yaml as the Compose file a user
// runs; with no Docker engine here, they test everything up to starting
// containers: that each command the containers run is accepted by this
// binary's own flag parsing, and that the files and ports the services
// name agree with each other. e2e/compose_test.go has docker-compose
// validate the file against the Compose schema.

const repoRoot = "../.."

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	PullPolicy  string            `yaml:"pull_policy"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Volumes     []string          `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
	DependsOn   dependsOn         `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// dependsOn maps a dependency to its condition; Compose takes a list
// (condition service_started) or a map.
type dependsOn map[string]struct {
	Condition string `yaml:"condition"`
}

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		type plain dependsOn
		return n.Decode((*plain)(d))
	}
	var names []string
	if err := n.Decode(&names); err != nil {
		return err
	}
	*d = dependsOn{}
	for _, name := range names {
		(*d)[name] = struct {
			Condition string `yaml:"condition"`
		}{"service_started"}
	}
	return nil
}

// composeMount is one short-syntax volume: SOURCE:TARGET[:ro].
type composeMount struct {
	Source, Target string
	ReadOnly       bool
	Named          bool // a named volume rather than a host path
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	return f
}

func (s composeService) mounts(t *testing.T) []composeMount {
	t.Helper()
	var out []composeMount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "ro") {
			t.Fatalf("volume %q: want SOURCE:TARGET[:ro]", v)
		}
		out = append(out, composeMount{
			Source: parts[0], Target: parts[1], ReadOnly: len(parts) == 3,
			Named: !strings.HasPrefix(parts[0], "."),
		})
	}
	return out
}

// mountFor returns the mount that holds the container path p (the
// deepest one, as in a container) and p's path inside its source.
func (s composeService) mountFor(t *testing.T, p string) (composeMount, string) {
	t.Helper()
	var best composeMount
	var rest string
	for _, m := range s.mounts(t) {
		if r, ok := strings.CutPrefix(p, m.Target); ok && (r == "" || r[0] == '/') && len(m.Target) > len(best.Target) {
			best, rest = m, strings.TrimPrefix(r, "/")
		}
	}
	if best.Target == "" {
		t.Fatalf("no volume holds %s", p)
	}
	return best, rest
}

// flagValue is the last value of -name or --name in args, given as
// "--name value" or "--name=value" (the last one wins, as in package flag).
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		a = "-" + strings.TrimLeft(a, "-")
		if after, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			v = after
		}
		if a == "-"+name && i+1 < len(args) {
			v = args[i+1]
		}
	}
	return v
}

// pinnedTag is an exact release: 7.4.2, v1.40.0, 11.4.0 — not latest, not
// a floating 7 or v1.40-latest.
var pinnedTag = regexp.MustCompile(`^v?\d+\.\d+\.\d+$`)

// localImage is the image the Dockerfile builds; one service builds it.
const localImage = "tollgate:dev"

func TestComposeImagesArePinnedAndBuiltOnce(t *testing.T) {
	f := readCompose(t)
	var builders []string
	for name, s := range f.Services {
		if s.Build != nil {
			builders = append(builders, name)
			if s.Image != localImage {
				t.Errorf("%s builds image %q, want %q", name, s.Image, localImage)
			}
			continue
		}
		if s.Image == localImage {
			// Compose would look for tollgate:dev in a registry.
			if s.PullPolicy != "never" {
				t.Errorf("%s uses %s with pull_policy %q, want never", name, localImage, s.PullPolicy)
			}
			continue
		}
		repo, tag, ok := strings.Cut(s.Image, ":")
		if !ok || repo == "" || !pinnedTag.MatchString(tag) {
			t.Errorf("%s: image %q is not pinned to an exact version", name, s.Image)
		}
	}
	if len(builders) != 1 {
		t.Errorf("services with build: %v, want exactly one (the others reuse %s)", builders, localImage)
	}
}

// jobs are the one-shot services: others wait for them to complete.
func (f composeFile) jobs() map[string]bool {
	out := map[string]bool{}
	for _, s := range f.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == "service_completed_successfully" {
				out[dep] = true
			}
		}
	}
	return out
}

func TestComposeEveryServiceHasAHealthCheck(t *testing.T) {
	f := readCompose(t)
	jobs := f.jobs()
	for name, s := range f.Services {
		if jobs[name] {
			continue
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("%s: no exec-form health check (test: [CMD, ...])", name)
		}
		for dep, d := range s.DependsOn {
			if want := "service_healthy"; !jobs[dep] && d.Condition != want {
				t.Errorf("%s waits for %s with condition %q, want %q", name, dep, d.Condition, want)
			}
		}
	}
}

// TestComposeTollgateCommandsParse runs every command the stack gives the
// tollgate binary through its own flag parsing: serve's, the health checks'
// (whose URLs must be ports the service listens on), and keys-init's,
// which is run for real against a temporary file.
func TestComposeTollgateCommandsParse(t *testing.T) {
	f := readCompose(t)
	tg := f.Services["tollgate"]
	if tg.Command[0] != "serve" {
		t.Fatalf("tollgate runs %q, want serve", tg.Command)
	}
	c, err := parseServe(tg.Command[1:], nil)
	if err != nil {
		t.Fatalf("tollgate serve %q: %v", tg.Command[1:], err)
	}
	checkHealthURLs(t, "tollgate", tg, []string{c.adminAddr})
	envoy := f.Services["envoy"]
	if m, _ := envoy.mountFor(t, flagValue(envoy.Command, "c")); m.Named {
		if b := bootstrapWriter(t, f, m.Source); b.XDSAddress != c.grpcAddr {
			t.Errorf("Envoy's bootstrap dials %s, tollgate serve listens on %s", b.XDSAddress, c.grpcAddr)
		}
	}
	if m, _ := tg.mountFor(t, c.stateDir); !m.Named || m.ReadOnly {
		t.Errorf("--state-dir %s is not on a writable named volume: %+v", c.stateDir, m)
	}
	for name, s := range f.Services {
		if slices.Equal(s.Entrypoint, []string{"/usr/local/bin/demo-service"}) {
			checkHealthURLs(t, name, s, strings.Split(flagValue(s.Command, "listen"), ","))
		}
	}

	job := f.Services["keys-init"].Command
	file := filepath.Join(t.TempDir(), "keys.yaml")
	args := append(slices.Clone(job), "--file", file) // the last --file wins
	if out, errOut, code := runCmd(t, args...); code != 0 || !strings.HasPrefix(out, "tg_demo_") {
		t.Fatalf("keys-init %q: exit %d, stdout %q, stderr %s", job, code, out, errOut)
	}
	if out, errOut, code := runCmd(t, args...); code != 0 || out != "" {
		t.Fatalf("keys-init run again: exit %d, stdout %q (want nothing), stderr %s", code, out, errOut)
	}
}

// checkHealthURLs checks that service s's health check is `tollgate
// health` and fetches exactly the addresses the service listens on.
func checkHealthURLs(t *testing.T, name string, s composeService, listen []string) {
	t.Helper()
	if s.Healthcheck == nil {
		t.Errorf("%s: no health check", name)
		return
	}
	test := s.Healthcheck.Test
	if len(test) < 3 || test[1] != "/usr/local/bin/tollgate" || test[2] != "health" {
		t.Errorf("%s: health check %q, want /usr/local/bin/tollgate health URL...", name, test)
		return
	}
	urls, _, err := parseHealth(test[3:])
	if err != nil {
		t.Fatalf("%s: tollgate health %q: %v", name, test[3:], err)
	}
	var hosts []string
	for _, u := range urls {
		hosts = append(hosts, u.Host)
	}
	if !slices.Equal(hosts, listen) {
		t.Errorf("%s: health check fetches %v, but the service listens on %v", name, hosts, listen)
	}
}

// TestComposePolicyValidatesAndKeysAreWritable: the policy the tollgate
// service mounts validates, and the keys file it names is on the keys
// volume — writable, for the last-used times — where keys-init creates it.
func TestComposePolicyValidatesAndKeysAreWritable(t *testing.T) {
	f := readCompose(t)
	tg := f.Services["tollgate"]
	c, err := parseServe(tg.Command[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	pm, rest := tg.mountFor(t, c.policyDir)
	if pm.Named || rest != "" || !pm.ReadOnly {
		t.Fatalf("--policy %s: want a read-only host directory mounted there, got %+v", c.policyDir, pm)
	}
	hostDir := filepath.Join(repoRoot, pm.Source)
	if _, errOut, code := runCmd(t, "validate", hostDir); code != 0 {
		t.Fatalf("tollgate validate %s: %s", hostDir, errOut)
	}
	p, err := policy.Load(hostDir)
	if err != nil || p.Auth == nil || p.Auth.APIKeys == nil {
		t.Fatalf("%s names no API keys file (%v)", hostDir, err)
	}
	rel, err := filepath.Rel(hostDir, p.Auth.APIKeys.Path)
	if err != nil || strings.HasPrefix(rel, "..") {
		t.Fatalf("keys file %s is outside the policy directory", p.Auth.APIKeys.Path)
	}
	keysPath := path.Join(c.policyDir, filepath.ToSlash(rel))
	km, _ := tg.mountFor(t, keysPath)
	if !km.Named || km.ReadOnly {
		t.Errorf("tollgate: the keys file %s is not on a writable named volume: %+v", keysPath, km)
	}
	// The host directory a volume is mounted on must exist: the policy
	// mount is read-only, so Docker could not create it there.
	if info, err := os.Stat(filepath.Join(hostDir, path.Dir(rel))); err != nil || !info.IsDir() {
		t.Errorf("%s must exist in the repository, for the keys volume's mount point: %v", path.Dir(rel), err)
	}
	job := f.Services["keys-init"]
	if got := flagValue(job.Command, "file"); got != keysPath {
		t.Errorf("keys-init writes %s, the policy reads %s", got, keysPath)
	}
	if jm, _ := job.mountFor(t, keysPath); jm != km {
		t.Errorf("keys-init writes on %+v, tollgate reads %+v", jm, km)
	}
}

// TestComposeHostFilesExist: every host file or directory a service mounts
// is in the repository.
func TestComposeHostFilesExist(t *testing.T) {
	for name, s := range readCompose(t).Services {
		for _, m := range s.mounts(t) {
			if m.Named {
				if _, ok := readCompose(t).Volumes[m.Source]; !ok {
					t.Errorf("%s: volume %s is not declared", name, m.Source)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, m.Source)); err != nil {
				t.Errorf("%s mounts %s: %v", name, m.Source, err)
			}
		}
	}
}

// TestComposePrometheusScrapesTheServicesPorts: deploy/prometheus.yml's
// targets are the admin addresses Envoy's bootstrap and tollgate serve
// listen on.
func TestComposePrometheusScrapesTheServicesPorts(t *testing.T) {
	f := readCompose(t)
	c, err := parseServe(f.Services["tollgate"].Command[1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"tollgate": c.adminAddr, "envoy": envoyAdminAddr(t, f)}

	prom := f.Services["prometheus"]
	m, rest := prom.mountFor(t, flagValue(prom.Command, "config.file"))
	if m.Named || rest != "" {
		t.Fatalf("prometheus --config.file is not a mounted host file: %+v", m)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join(repoRoot, m.Source), &cfg)
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if !slices.Equal(st.Targets, []string{want[sc.JobName]}) {
				t.Errorf("%s: job %s scrapes %v, want [%s]", m.Source, sc.JobName, st.Targets, want[sc.JobName])
			}
		}
	}
}

// envoyAdminAddr is the admin address of the bootstrap the envoy service
// reads: the --admin-addr of the `tollgate bootstrap` service writing it
// into a shared volume, or a mounted host file's.
func envoyAdminAddr(t *testing.T, f composeFile) string {
	t.Helper()
	s := f.Services["envoy"]
	m, _ := s.mountFor(t, flagValue(s.Command, "c"))
	if m.Named {
		return bootstrapWriter(t, f, m.Source).AdminAddress
	}
	var b struct {
		Admin struct {
			Address struct {
				SocketAddress struct {
					Address   string `yaml:"address"`
					PortValue string `yaml:"port_value"`
				} `yaml:"socket_address"`
			} `yaml:"address"`
		} `yaml:"admin"`
	}
	readYAML(t, filepath.Join(repoRoot, m.Source), &b)
	sa := b.Admin.Address.SocketAddress
	return net.JoinHostPort(sa.Address, sa.PortValue)
}

// bootstrapWriter is the configuration of the service that writes Envoy's
// bootstrap with `tollgate bootstrap` into the named volume.
func bootstrapWriter(t *testing.T, f composeFile, volume string) *bootstrapConfig {
	t.Helper()
	for name, s := range f.Services {
		if len(s.Command) == 0 || s.Command[0] != "bootstrap" {
			continue
		}
		c, err := parseBootstrap(s.Command[1:], os.Hostname)
		if err != nil {
			t.Fatalf("%s: tollgate bootstrap %q: %v", name, s.Command[1:], err)
		}
		if m, _ := s.mountFor(t, c.output); m.Source == volume {
			return c
		}
	}
	t.Fatalf("no service writes Envoy's bootstrap into volume %s", volume)
	return nil
}

// TestComposeGrafanaIsProvisioned: Grafana's data source is the
// Prometheus of the stack, and its dashboard provider reads the directory
// the dashboard is mounted in.
func TestComposeGrafanaIsProvisioned(t *testing.T) {
	f := readCompose(t)
	g := f.Services["grafana"]
	prov, _ := g.mountFor(t, "/etc/grafana/provisioning/datasources")
	if prov.Named {
		t.Fatalf("grafana's provisioning is not a host directory: %+v", prov)
	}
	var ds struct {
		Datasources []struct {
			Type      string `yaml:"type"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(repoRoot, prov.Source, "datasources", "prometheus.yaml"), &ds)
	promAddr := flagValue(f.Services["prometheus"].Command, "web.listen-address")
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://"+promAddr || !ds.Datasources[0].IsDefault {
		t.Errorf("data sources %+v, want the default prometheus at http://%s", ds.Datasources, promAddr)
	}

	var dp struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(repoRoot, prov.Source, "dashboards", "tollgate.yaml"), &dp)
	if len(dp.Providers) != 1 {
		t.Fatalf("dashboard providers %+v, want one", dp.Providers)
	}
	dir := dp.Providers[0].Options.Path
	m, rest := g.mountFor(t, path.Join(dir, "tollgate-dashboard.json"))
	if m.Named || rest != "" || m.Source != "./deploy/grafana/tollgate-dashboard.json" {
		t.Errorf("the provider reads %s, where deploy/grafana/tollgate-dashboard.json is not mounted (%+v)", dir, m)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != path.Join(dir, "tollgate-dashboard.json") {
		t.Errorf("home dashboard %s is not the mounted one", home)
	}
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}
