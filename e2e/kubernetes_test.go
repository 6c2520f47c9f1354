package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/deploy/kubernetes"
	"github.com/tollgate/tollgate/internal/testenv"
)

// projectVolume lays files out in dir as the kubelet lays out a
// ConfigMap, Secret or projected volume, and updates it as the kubelet
// does: the files go into a new hidden, timestamped directory; a new
// ..data symlink to it is renamed over the old one (the one atomic step);
// each top-level entry is a symlink through ..data (gateway.yaml ->
// ..data/gateway.yaml, keys -> ..data/keys); the old generation is removed.
func projectVolume(t *testing.T, dir, generation string, write func(gen string)) {
	t.Helper()
	gen := filepath.Join(dir, generation)
	if err := os.Mkdir(gen, 0o755); err != nil {
		t.Fatal(err)
	}
	write(gen)
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(generation, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(gen)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join("..data", e.Name()), filepath.Join(dir, e.Name())); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// writeKeys writes a keys file with one key per id under gen/keys.
func writeKeys(t *testing.T, gen string, ids ...string) {
	t.Helper()
	kf := &authz.KeysFile{}
	for _, id := range ids {
		if _, err := authz.AddKey(kf, authz.NewKeyOptions{ID: id}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := authz.WriteKeysFile(filepath.Join(gen, "keys", "keys.yaml"), kf); err != nil {
		t.Fatal(err)
	}
}

// tollgate serve on a policy directory laid out as Kubernetes mounts the
// base's projected volume (the policy ConfigMap and the API keys Secret
// in one directory) serves it, and an update of the volume, which writes
// no file the policy names but swaps ..data, is served: new routes and
// new keys. The poll is an hour, so only the watcher can see the swap.
func TestServeFollowsAKubernetesVolumeSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listener := strings.ReplaceAll(listenerYAML, "{{PORT}}", strings.Split(freeAddr(t), ":")[1])
	policy := func(gen, route string) {
		writeFile(t, filepath.Join(gen, "gateway.yaml"), listener+servicesYAML(t, "orders")+
			"auth: { api_keys: { file: keys/keys.yaml } }\nroutes:\n  - { name: "+route+", to: orders, auth: { accept: [api_key] } }\n")
	}
	projectVolume(t, dir, "..2026_11_30_00_00_00.1", func(gen string) {
		policy(gen, "first")
		writeKeys(t, gen, "alice")
	})
	tg := startTollgateWith(t, dir, "--poll", "1h")
	served := func() (routes, keys []string) {
		var cfg struct{ Routes []struct{ Name string } }
		var ks []struct{ ID string }
		for path, v := range map[string]any{"/debug/config": &cfg, "/debug/keys": &ks} {
			_, body, err := httpGet(tg.adminURL(path), nil)
			if err != nil || json.Unmarshal(body, v) != nil {
				t.Fatalf("%s: %v %s", path, err, body)
			}
		}
		for _, r := range cfg.Routes {
			routes = append(routes, r.Name)
		}
		for _, k := range ks {
			keys = append(keys, k.ID)
		}
		slices.Sort(keys)
		return routes, keys
	}
	if routes, keys := served(); !slices.Equal(routes, []string{"first"}) || !slices.Equal(keys, []string{"alice"}) {
		t.Fatalf("serving routes %v keys %v, want [first] [alice]", routes, keys)
	}
	projectVolume(t, dir, "..2026_11_30_00_01_00.2", func(gen string) {
		policy(gen, "second")
		writeKeys(t, gen, "alice", "bob")
	})
	eventually(t, 10*time.Second, func() error {
		if routes, keys := served(); !slices.Equal(routes, []string{"second"}) || !slices.Equal(keys, []string{"alice", "bob"}) {
			return fmt.Errorf("serving routes %v keys %v after the swap, want [second] [alice bob]", routes, keys)
		}
		return nil
	})
}

// Two Envoy pods of the base's Envoy Deployment (the init container's
// `tollgate bootstrap` and the Envoy container, with their arguments as
// the kubelet passes them, $(POD_NAME) expanded; only the headless
// Service's address is replaced by Tollgate's loopback one and the admin
// address by a free one, since this machine has no cluster DNS) connect
// to a real Tollgate, which sees two proxies, each by its pod name, in the
// node group the Deployment names.
func TestKubernetesEnvoyPodsHaveUniqueNodeIDs(t *testing.T) {
	t.Parallel()
	bin := requireEnvoy(t)
	objs, err := kubernetes.Render(filepath.Join(kubernetes.Dir(), "base"))
	if err != nil {
		t.Fatal(err)
	}
	pod := kubernetes.Deployments(objs)["envoy"].Spec.Template.Spec
	dir := policyDir(t, map[string]string{
		"gateway.yaml": strings.ReplaceAll(listenerYAML, "{{PORT}}", strings.Split(freeAddr(t), ":")[1]) +
			servicesYAML(t, "orders") + "routes:\n  - { name: orders, to: orders }\n",
	})
	tg := startTollgate(t, dir, "")
	pods := []string{"envoy-7d9f-abcde", "envoy-7d9f-fghij"}
	for _, name := range pods {
		init, err := kubernetes.Args(pod.InitContainers[0], objs, name)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "bootstrap.yaml")
		for i, a := range init {
			switch flag, _, _ := strings.Cut(a, "="); flag {
			case "--xds-addr":
				init[i] = flag + "=" + tg.grpcAddr
			case "--admin-addr":
				init[i] = flag + "=" + freeAddr(t)
			case "--output":
				init[i] = flag + "=" + file
			}
		}
		if out, err := exec.Command(tollgateBin, init...).CombinedOutput(); err != nil {
			t.Fatalf("tollgate %v: %v\n%s", init, err, out)
		}
		args, err := kubernetes.Args(pod.Containers[0], objs, name)
		if err != nil {
			t.Fatal(err)
		}
		args[slices.Index(args, "-c")+1] = file
		runProcess(t, "envoy "+name, bin, args...)
	}
	eventually(t, 20*time.Second, func() error {
		var proxies []struct {
			NodeID string `json:"node_id"`
			Group  string `json:"group"`
		}
		_, body, err := httpGet(tg.adminURL("/debug/proxies"), nil)
		if err != nil || json.Unmarshal(body, &proxies) != nil {
			return fmt.Errorf("/debug/proxies: %v %s", err, body)
		}
		var got []string
		for _, p := range proxies {
			got = append(got, p.NodeID+"@"+p.Group)
		}
		slices.Sort(got)
		if want := []string{pods[0] + "@default", pods[1] + "@default"}; !slices.Equal(got, want) {
			return fmt.Errorf("proxies %v, want %v", got, want)
		}
		return nil
	})
}

// runProcess starts a program for the test and stops it in t.Cleanup,
// showing its output when the test failed.
func runProcess(t *testing.T, what, bin string, args ...string) {
	t.Helper()
	log := &testenv.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", what, log)
		}
	})
}
