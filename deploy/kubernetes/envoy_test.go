package kubernetes

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/tollgate/tollgate/envoy"
	"github.com/tollgate/tollgate/internal/testenv"
)

// bootstrap is the part of Envoy's bootstrap these tests read.
type bootstrap struct {
	Node            map[string]any `json:"node"`
	StaticResources struct {
		Clusters []struct {
			Name           string `json:"name"`
			Type           string `json:"type"`
			LoadAssignment struct {
				Endpoints []struct {
					LBEndpoints []struct {
						Endpoint struct {
							Address struct {
								SocketAddress struct {
									Address   string `json:"address"`
									PortValue int32  `json:"port_value"`
								} `json:"socket_address"`
							} `json:"address"`
						} `json:"endpoint"`
					} `json:"lb_endpoints"`
				} `json:"endpoints"`
			} `json:"load_assignment"`
		} `json:"clusters"`
	} `json:"static_resources"`
}

// envoyBootstrap is the bootstrap file the Envoy container mounts.
func envoyBootstrap(t *testing.T, objs []Object) (path string, content string) {
	t.Helper()
	d := deployment(t, objs, "envoy")
	c := d.Spec.Template.Spec.Containers[0]
	path = flagValue(c.Args, "c")
	if path == "" {
		path = valueAfter(c.Args, "-c")
	}
	for _, m := range c.VolumeMounts {
		if rel, ok := strings.CutPrefix(path, m.MountPath+"/"); ok {
			for _, v := range d.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					data, err := configMapData(objs, v.ConfigMap.Name)
					if err != nil {
						t.Fatal(err)
					}
					return path, data[rel]
				}
			}
		}
	}
	t.Fatalf("Envoy's -c %q is on no ConfigMap volume", path)
	return "", ""
}

func valueAfter(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// Every Envoy pod has its own node id, its pod name (so Tollgate tells the
// proxies apart), and one node group; the bootstrap all pods share names
// neither, and reaches Tollgate through the headless Service, by DNS, so
// each Envoy sees every replica.
func TestEnvoyNodeIDIsThePodName(t *testing.T) {
	for _, k := range Kustomizations {
		objs := render(t, k)
		c := deployment(t, objs, "envoy").Spec.Template.Spec.Containers[0]
		a, err := Args(c, objs, "envoy-7d9f-abcde")
		if err != nil {
			t.Fatal(err)
		}
		b, err := Args(c, objs, "envoy-7d9f-fghij")
		if err != nil {
			t.Fatal(err)
		}
		if valueAfter(a, "--service-node") != "envoy-7d9f-abcde" || valueAfter(b, "--service-node") != "envoy-7d9f-fghij" {
			t.Errorf("%s: --service-node is not the pod's name: %v", k, a)
		}
		if valueAfter(a, "--service-cluster") == "" {
			t.Errorf("%s: no --service-cluster (node group)", k)
		}
		_, content := envoyBootstrap(t, objs)
		var bs bootstrap
		if err := yaml.Unmarshal([]byte(content), &bs); err != nil {
			t.Fatal(err)
		}
		if bs.Node != nil {
			t.Errorf("%s: the shared bootstrap sets node %v; every pod would get the same", k, bs.Node)
		}
		grpc := headlessService(t, objs, "tollgate-grpc")
		if len(bs.StaticResources.Clusters) != 1 {
			t.Fatalf("%s: bootstrap clusters %+v, want tollgate_xds", k, bs.StaticResources.Clusters)
		}
		xds := bs.StaticResources.Clusters[0]
		sa := xds.LoadAssignment.Endpoints[0].LBEndpoints[0].Endpoint.Address.SocketAddress
		if xds.Type != "STRICT_DNS" || sa.Address != grpc.Name || sa.PortValue != grpc.Spec.Ports[0].Port {
			t.Errorf("%s: the xDS cluster is %s %s:%d, want STRICT_DNS to the headless Service %s:%d",
				k, xds.Type, sa.Address, sa.PortValue, grpc.Name, grpc.Spec.Ports[0].Port)
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

// A real Envoy accepts the Envoy container's arguments, $(POD_NAME)
// expanded, with the ConfigMap's bootstrap (envoy --mode validate: the
// configuration is loaded and checked, nothing is served).
func TestEnvoyAcceptsItsArgumentsAndBootstrap(t *testing.T) {
	bin := testenv.Require(t, "Envoy", "make deps-envoy", envoy.FindBinary)
	for _, k := range Kustomizations {
		objs := render(t, k)
		path, content := envoyBootstrap(t, objs)
		file := filepath.Join(t.TempDir(), "bootstrap.yaml")
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		c := deployment(t, objs, "envoy").Spec.Template.Spec.Containers[0]
		args, err := Args(c, objs, "envoy-7d9f-abcde")
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range args {
			if a == path {
				args[i] = file
			}
		}
		if !slices.Equal(c.Command, []string{"envoy"}) {
			t.Fatalf("%s: Envoy's command is %v, want [envoy]", k, c.Command)
		}
		out, err := exec.CommandContext(t.Context(), bin, append(args, "--mode", "validate")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: envoy %v --mode validate: %v\n%s", k, args, err, out)
		}
	}
}
