package kubernetes

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func valueAfter(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// initContainer is the named init container of a Deployment.
func initContainer(t *testing.T, objs []Object, deploymentName, name string) corev1.Container {
	t.Helper()
	for _, c := range deployment(t, objs, deploymentName).Spec.Template.Spec.InitContainers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment %s has no init container %s", deploymentName, name)
	return corev1.Container{}
}

// mountedVolume is the volume mounted in c at the directory holding path.
func mountedVolume(t *testing.T, objs []Object, deploymentName string, c corev1.Container, path string) *corev1.Volume {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if filepath.Dir(path) == m.MountPath {
			for _, v := range deployment(t, objs, deploymentName).Spec.Template.Spec.Volumes {
				if v.Name == m.Name {
					return &v
				}
			}
		}
	}
	return nil
}

// Every Envoy pod writes its own bootstrap in an init container with
// `tollgate bootstrap`: the node id is the pod's name (so Tollgate tells the
// proxies apart), the xDS address is the headless Service, and the file
// lands on an emptyDir the Envoy container reads with -c. (cmd/tollgate's
// TestKubernetesEnvoyBootstrapIsAccepted runs the init container's
// command and a real Envoy on its output.)
func TestEnvoyBootstrapIsWrittenPerPod(t *testing.T) {
	for _, k := range Kustomizations {
		objs := render(t, k)
		init := initContainer(t, objs, "envoy", "bootstrap")
		a, err := Args(init, objs, "envoy-7d9f-abcde")
		if err != nil {
			t.Fatal(err)
		}
		b, err := Args(init, objs, "envoy-7d9f-fghij")
		if err != nil {
			t.Fatal(err)
		}
		if init.Image != "tollgate:dev" || a[0] != "bootstrap" {
			t.Errorf("%s: the init container runs %s %v, want tollgate bootstrap", k, init.Image, a)
		}
		if flagValue(a, "node-id") != "envoy-7d9f-abcde" || flagValue(b, "node-id") != "envoy-7d9f-fghij" {
			t.Errorf("%s: --node-id is not the pod's name: %v", k, a)
		}
		grpc := headlessService(t, objs, "tollgate-grpc")
		host, port, err := net.SplitHostPort(flagValue(a, "xds-addr"))
		if err != nil || host != grpc.Name || port != portString(grpc.Spec.Ports[0].Port) {
			t.Errorf("%s: --xds-addr %q, want the headless Service %s:%d", k, flagValue(a, "xds-addr"), grpc.Name, grpc.Spec.Ports[0].Port)
		}
		envoyC := deployment(t, objs, "envoy").Spec.Template.Spec.Containers[0]
		out := flagValue(a, "output")
		if got := valueAfter(envoyC.Args, "-c"); got != out {
			t.Errorf("%s: Envoy reads -c %q, the init container writes %q", k, got, out)
		}
		for _, c := range []corev1.Container{init, envoyC} {
			if v := mountedVolume(t, objs, "envoy", c, out); v == nil || v.EmptyDir == nil {
				t.Errorf("%s: %s does not mount the emptyDir the bootstrap is written to", k, c.Name)
			}
		}
		_, adminPort, _ := net.SplitHostPort(flagValue(a, "admin-addr"))
		if adminPort != portString(containerPort(t, envoyC, "admin")) {
			t.Errorf("%s: --admin-addr %q is not Envoy's admin container port", k, flagValue(a, "admin-addr"))
		}
	}
}

// headlessService is the named Service, which must be headless.
func headlessService(t *testing.T, objs []Object, name string) *corev1.Service {
	t.Helper()
	for _, o := range objs {
		if s, ok := o.Value.(*corev1.Service); ok && s.Name == name {
			if s.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("Service %s is not headless", name)
			}
			return s
		}
	}
	t.Fatalf("no Service %s", name)
	return nil
}

// Tollgate sends Envoy its ext_authz, rate-limit and access-log clusters
// at the addresses its flags name: the headless Service too, so each
// call can go to any replica.
func TestTollgateServiceAddressesAreTheHeadlessService(t *testing.T) {
	objs := render(t, "base")
	grpc := headlessService(t, objs, "tollgate-grpc")
	args, err := Args(deployment(t, objs, "tollgate").Spec.Template.Spec.Containers[0], objs, "tollgate-0")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"authz-address", "ratelimit-address", "access-log-addr"} {
		if got, want := flagValue(args, flag), grpc.Name+":18000"; got != want || grpc.Spec.Ports[0].Port != 18000 {
			t.Errorf("--%s %q, want %s", flag, got, want)
		}
	}
}

// The cert-manager overlay changes exactly the TLS arguments: Tollgate's
// are the base's with --insecure-grpc replaced by the three --grpc-tls
// flags, Envoy's bootstrap's are the base's plus --tls-*, and every file
// they name is on the Secret volume cert-manager fills.
func TestCertManagerOverlaySwitchesToMutualTLS(t *testing.T) {
	base, overlay := render(t, "base"), render(t, "overlays/cert-manager")
	type check struct {
		deployment string
		container  func(objs []Object) corev1.Container
		// mountedIn is the container that reads the TLS files.
		mountedIn func(objs []Object) corev1.Container
		removed   []string
		added     []string
		secret    string
	}
	tollgateC := func(objs []Object) corev1.Container {
		return deployment(t, objs, "tollgate").Spec.Template.Spec.Containers[0]
	}
	envoyC := func(objs []Object) corev1.Container {
		return deployment(t, objs, "envoy").Spec.Template.Spec.Containers[0]
	}
	for _, c := range []check{
		{"tollgate", tollgateC, tollgateC, []string{"--insecure-grpc"}, []string{"grpc-tls-cert", "grpc-tls-key", "grpc-client-ca"}, "tollgate-grpc-tls"},
		{"envoy", func(objs []Object) corev1.Container { return initContainer(t, objs, "envoy", "bootstrap") }, envoyC, nil, []string{"tls-cert", "tls-key", "tls-ca"}, "envoy-client-tls"},
	} {
		before, after := c.container(base).Args, c.container(overlay).Args
		var want []string
		for _, a := range before {
			if !slices.Contains(c.removed, a) {
				want = append(want, a)
			}
		}
		var got []string
		for _, a := range after {
			name, value, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !slices.Contains(c.added, name) {
				got = append(got, a)
				continue
			}
			v := mountedVolume(t, overlay, c.deployment, c.mountedIn(overlay), value)
			if v == nil || v.Secret == nil || v.Secret.SecretName != c.secret {
				t.Errorf("%s: --%s %s is not on the Secret %s's volume", c.deployment, name, value, c.secret)
			}
		}
		if !slices.Equal(got, want) || len(after) != len(want)+len(c.added) {
			t.Errorf("%s: the overlay's arguments\n%v\nare not the base's\n%v\nwith %v removed and %v added", c.deployment, after, before, c.removed, c.added)
		}
	}
}
