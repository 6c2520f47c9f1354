package kubernetes

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/tollgate/tollgate/internal/admin"
	"github.com/tollgate/tollgate/policy"
)

func render(t *testing.T, kustomization string) []Object {
	t.Helper()
	objs, err := Render(filepath.Join(Dir(), kustomization))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func portString(p int32) string { return strconv.Itoa(int(p)) }

func kindsOf(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.Kind+"/"+o.Name)
	}
	slices.Sort(out)
	return out
}

var baseObjects = []string{
	"ConfigMap/tollgate-policy", "ConfigMap/tollgate-settings",
	"Deployment/envoy", "Deployment/tollgate",
	"PodDisruptionBudget/envoy", "PodDisruptionBudget/tollgate",
	"Service/envoy", "Service/tollgate-admin", "Service/tollgate-grpc",
}

// Every kustomization builds, in process, and every object it yields
// decodes strictly into its official type (cert-manager's into the
// mirrors of certmanager.go): these are the objects expected.
func TestKustomizationsBuildTheExpectedObjects(t *testing.T) {
	want := map[string][]string{
		"base": baseObjects,
		"overlays/cert-manager": append(slices.Clone(baseObjects),
			"Certificate/envoy-client", "Certificate/tollgate-ca", "Certificate/tollgate-grpc",
			"Issuer/tollgate-ca-issuer", "Issuer/tollgate-selfsigned"),
	}
	for _, k := range Kustomizations {
		var got []string
		for _, name := range kindsOf(render(t, k)) {
			// Generated names carry a content hash; compare without it.
			kind, n, _ := strings.Cut(name, "/")
			if i := strings.LastIndex(n, "-"); i > 0 && strings.HasPrefix(n, "tollgate-settings-") {
				n = n[:i]
			}
			got = append(got, kind+"/"+n)
		}
		w := slices.Clone(want[k])
		slices.Sort(w)
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Errorf("%s yields\n%v\nwant\n%v", k, got, w)
		}
	}
}

// Every kustomization.yaml under Dir is one the tests render.
func TestEveryKustomizationIsChecked(t *testing.T) {
	err := filepath.WalkDir(Dir(), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.Name() != "kustomization.yaml" {
			return err
		}
		rel, _ := filepath.Rel(Dir(), filepath.Dir(path))
		if !slices.Contains(Kustomizations, filepath.ToSlash(rel)) {
			t.Errorf("%s is not in Kustomizations, so no test renders it", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The decoding is strict: a misspelt field, a misplaced one and an
// unknown kind are errors.
func TestDecodeRefusesUnknownFields(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt":     "apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { clusterIp: None }\n",
		"misplaced":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec: { template: { spec: { containers: [{ name: c, readOnlyRootFilesystem: true }] } } }\n",
		"cert-manager": "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: { name: c }\nspec: { secretName: s, dnsName: [x], issuerRef: { name: i } }\n",
		"unknown kind": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: { name: m }\n",
		"duplicate":    "apiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { type: ClusterIP, type: NodePort }\n",
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

func deployment(t *testing.T, objs []Object, name string) *appsv1.Deployment {
	t.Helper()
	d := Deployments(objs)[name]
	if d == nil {
		t.Fatalf("no Deployment %s", name)
	}
	return d
}

// flagValue is the value of --name=value (or --name value) in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
		if a == "--"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// containerPort is the number of the container's port called name.
func containerPort(t *testing.T, c corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port %s", c.Name, name)
	return 0
}

// The Tollgate container's ports are the ones its arguments listen on,
// its probes ask the admin port for /readyz and /healthz, and the admin
// server answers those paths (and the scrape path) with 200.
func TestTollgateProbesAndPortsMatchItsArguments(t *testing.T) {
	for _, k := range Kustomizations {
		objs := render(t, k)
		d := deployment(t, objs, "tollgate")
		if *d.Spec.Replicas != 3 {
			t.Errorf("%s: %d replicas, want 3", k, *d.Spec.Replicas)
		}
		c := d.Spec.Template.Spec.Containers[0]
		args, err := Args(c, objs, "tollgate-0")
		if err != nil {
			t.Fatal(err)
		}
		for flag, port := range map[string]string{"grpc-addr": "grpc", "admin-addr": "admin"} {
			_, p, err := net.SplitHostPort(flagValue(args, flag))
			if err != nil || p != strconv.Itoa(int(containerPort(t, c, port))) {
				t.Errorf("%s: --%s %q does not listen on the container port %s", k, flag, flagValue(args, flag), port)
			}
		}
		probes := map[string]*corev1.Probe{"/readyz": c.ReadinessProbe, "/healthz": c.LivenessProbe}
		for path, p := range probes {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
				t.Errorf("%s: want an HTTP probe of %s on the admin port, got %+v", k, path, p)
			}
		}
		if got := d.Spec.Template.Annotations["prometheus.io/port"]; got != strconv.Itoa(int(containerPort(t, c, "admin"))) {
			t.Errorf("%s: prometheus.io/port %q is not the admin port", k, got)
		}
	}
	adminAnswers(t, "/readyz", "/healthz", "/metrics")
}

// adminAnswers starts Tollgate's admin server (ready) on loopback and
// checks that every path answers 200.
func adminAnswers(t *testing.T, paths ...string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- admin.New(prometheus.NewRegistry(), func() error { return nil }, slog.New(slog.DiscardHandler)).Serve(ctx, lis)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	for _, p := range paths {
		resp, err := http.Get("http://" + lis.Addr().String() + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("admin %s: %s, want 200", p, resp.Status)
		}
	}
}

// Every container runs as non-root with a read-only root and no
// capabilities; Tollgate's --state-dir is on an emptyDir (the only place
// it can write) and --policy is the mounted policy volume.
func TestContainersAreLockedDown(t *testing.T) {
	for _, k := range Kustomizations {
		objs := render(t, k)
		for name, d := range Deployments(objs) {
			pod := d.Spec.Template.Spec
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
				t.Errorf("%s %s: the pod does not set runAsNonRoot", k, name)
			}
			if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
				t.Errorf("%s %s: no pod anti-affinity", k, name)
			}
			for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s %s/%s: securityContext %+v, want a read-only root, no privilege escalation, drop ALL", k, name, c.Name, sc)
				}
				if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s %s/%s: no memory request or limit", k, name, c.Name)
				}
			}
		}
		c := deployment(t, objs, "tollgate").Spec.Template.Spec.Containers[0]
		args, err := Args(c, objs, "tollgate-0")
		if err != nil {
			t.Fatal(err)
		}
		vol := func(dir string) *corev1.Volume {
			for _, m := range c.VolumeMounts {
				if m.MountPath == dir {
					for _, v := range deployment(t, objs, "tollgate").Spec.Template.Spec.Volumes {
						if v.Name == m.Name {
							return &v
						}
					}
				}
			}
			return nil
		}
		if v := vol(flagValue(args, "state-dir")); v == nil || v.EmptyDir == nil {
			t.Errorf("%s: --state-dir %q is not an emptyDir mount", k, flagValue(args, "state-dir"))
		}
		if v := vol(flagValue(args, "policy")); v == nil || v.Projected == nil {
			t.Errorf("%s: --policy %q is not the projected policy volume", k, flagValue(args, "policy"))
		}
	}
}

// policyDir lays out the policy volume as the kubelet would: the
// ConfigMap's files, and the Secret's keys at the paths the projection
// names (here with an empty keys file, as `tollgate keys` starts one).
func policyDir(t *testing.T, objs []Object) string {
	t.Helper()
	dir := t.TempDir()
	d := deployment(t, objs, "tollgate")
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name != "policy" {
			continue
		}
		for _, src := range v.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				data, err := configMapData(objs, src.ConfigMap.Name)
				if err != nil {
					t.Fatal(err)
				}
				for name, content := range data {
					writeFile(t, filepath.Join(dir, name), content)
				}
			case src.Secret != nil:
				for _, item := range src.Secret.Items {
					writeFile(t, filepath.Join(dir, item.Path), "keys: []\n")
				}
			}
		}
	}
	return dir
}

func configMapData(objs []Object, name string) (map[string]string, error) {
	for _, o := range objs {
		if cm, ok := o.Value.(*corev1.ConfigMap); ok && cm.Name == name {
			return cm.Data, nil
		}
	}
	return nil, os.ErrNotExist
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The policy ConfigMap, with the Secret's keys file where the projection
// puts it, is a valid policy (the keys file is not optional, so a
// projection path that missed the policy's auth.api_keys.file would fail
// here); its listener is the port the Envoy container and Service expose.
func TestPolicyConfigMapValidates(t *testing.T) {
	objs := render(t, "base")
	p, err := policy.Load(policyDir(t, objs))
	if err != nil {
		t.Fatalf("the policy ConfigMap does not validate:\n%v", err)
	}
	envoyC := deployment(t, objs, "envoy").Spec.Template.Spec.Containers[0]
	for _, l := range p.Listeners {
		if int32(l.Port) != containerPort(t, envoyC, "http") {
			t.Errorf("listener %s port %d is not the Envoy container's http port", l.Name, l.Port)
		}
	}
}
