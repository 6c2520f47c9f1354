package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/tollgate/tollgate/deploy/kubernetes"
	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/internal/testenv"
)

// tollgateContainers are the containers and init containers running the
// tollgate image in a kustomization, with their arguments expanded as the
// kubelet does ($(POD_NAME) as podName).
func tollgateContainers(t *testing.T, kustomization, podName string) (objs []kubernetes.Object, out map[string][]string) {
	t.Helper()
	objs, err := kubernetes.Render(filepath.Join(kubernetes.Dir(), kustomization))
	if err != nil {
		t.Fatal(err)
	}
	out = map[string][]string{}
	for name, d := range kubernetes.Deployments(objs) {
		pod := d.Spec.Template.Spec
		for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
			if c.Image != "tollgate:dev" {
				continue
			}
			args, err := kubernetes.Args(c, objs, podName)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Command) != 0 || len(args) == 0 {
				t.Fatalf("%s %s/%s: command %v args %v, want the image's entrypoint with a command", kustomization, name, c.Name, c.Command, args)
			}
			out[name+"/"+c.Name] = args
		}
	}
	return objs, out
}

// Every container running the tollgate image in the Kubernetes manifests
// passes arguments its command's own flag parsing accepts. parseServe and
// parseBootstrap are the parsing and checking `tollgate serve` and
// `tollgate bootstrap` run before they touch anything, so this is the
// binary's verdict without starting it; a flag renamed or a check added
// (a plaintext non-loopback --grpc-addr needing --insecure-grpc, say)
// fails here.
func TestKubernetesTollgateArgumentsParse(t *testing.T) {
	for _, k := range kubernetes.Kustomizations {
		_, containers := tollgateContainers(t, k, "pod-0")
		seen := map[string]bool{}
		for name, args := range containers {
			var err error
			switch args[0] {
			case "serve":
				_, err = parseServe(args[1:], io.Discard)
			case "bootstrap":
				_, err = parseBootstrap(args[1:], os.Hostname)
			default:
				t.Errorf("%s %s: unexpected command %v", k, name, args)
			}
			if err != nil {
				t.Errorf("%s %s: tollgate %v: %v", k, name, args, err)
			}
			seen[args[0]] = true
		}
		if !seen["serve"] || !seen["bootstrap"] {
			t.Errorf("%s: commands run %v, want serve and bootstrap", k, seen)
		}
	}
}

// The Envoy pod's init container, run as it is (its --output and TLS
// files moved to a scratch directory), writes a bootstrap that a real
// Envoy accepts with the Envoy container's arguments (envoy --mode
// validate loads and checks it, TLS files included, and serves nothing).
func TestKubernetesEnvoyBootstrapIsAccepted(t *testing.T) {
	bin := testenv.Require(t, "Envoy", "make deps-envoy", envoy.FindBinary)
	for _, k := range kubernetes.Kustomizations {
		objs, containers := tollgateContainers(t, k, "envoy-7d9f-abcde")
		dir := t.TempDir()
		init := relocate(t, containers["envoy/bootstrap"], dir)
		if err := bootstrap(init[1:], io.Discard); err != nil {
			t.Fatalf("%s: tollgate %v: %v", k, init, err)
		}
		out := filepath.Join(dir, "bootstrap.yaml")
		yaml, err := os.ReadFile(out)
		if err != nil || !strings.Contains(string(yaml), `id: "envoy-7d9f-abcde"`) {
			t.Fatalf("%s: the bootstrap does not name the pod (%v):\n%s", k, err, yaml)
		}
		envoyC := envoyContainer(t, objs)
		args := slices.Clone(envoyC.Args)
		args[slices.Index(args, "-c")+1] = out
		if b, err := exec.CommandContext(t.Context(), bin, append(args, "--mode", "validate")...).CombinedOutput(); err != nil {
			t.Errorf("%s: envoy %v --mode validate: %v\n%s", k, args, err, b)
		}
	}
}

// relocate points the bootstrap's --output into dir, and its --tls-*
// files at a certificate and CA made there.
func relocate(t *testing.T, args []string, dir string) []string {
	t.Helper()
	ca, err := testcerts.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(testcerts.Options{CommonName: "envoy", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")); err != nil {
		t.Fatal(err)
	}
	if err := testcerts.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM); err != nil {
		t.Fatal(err)
	}
	out := slices.Clone(args)
	for i, a := range out {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--output":
			out[i] = name + "=" + filepath.Join(dir, "bootstrap.yaml")
		case "--tls-cert", "--tls-key", "--tls-ca":
			out[i] = name + "=" + filepath.Join(dir, filepath.Base(value))
		}
	}
	return out
}

func envoyContainer(t *testing.T, objs []kubernetes.Object) corev1.Container {
	t.Helper()
	d := kubernetes.Deployments(objs)["envoy"]
	if d == nil {
		t.Fatal("no Deployment envoy")
	}
	return d.Spec.Template.Spec.Containers[0]
}
