package xds

import (
	"os"
	"path/filepath"
	"testing"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/tollgate/tollgate/policy"
)

// Replicas given copies of one policy in different directories must serve
// the same version of every resource type, secrets included: an Envoy
// moved from one replica to another then keeps what it has instead of
// being sent (and draining listeners for) an identical configuration.
// The policy names certificates, a client CA, upstream TLS files and a
// keys file by relative path, which each copy resolves to a different
// absolute path.
func TestCopiesOfAPolicyInOtherDirectoriesGiveTheSameVersions(t *testing.T) {
	first := filepath.Join(t.TempDir(), "a")
	writeReplicaPolicy(t, first)
	second := filepath.Join(t.TempDir(), "elsewhere", "deeper", "b")
	copyTree(t, first, second)

	var versions [2]map[string]string
	for i, dir := range []string{first, second} {
		p, err := policy.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := Snapshot(p, DefaultGroup, Options{AuthzAddress: "127.0.0.1:18000", RateLimitAddress: "127.0.0.1:18000", AccessLogAddress: "127.0.0.1:18000"})
		if err != nil {
			t.Fatal(err)
		}
		versions[i] = map[string]string{"policy": p.Version}
		for _, typ := range []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.SecretType} {
			if len(snap.GetResources(typ)) == 0 {
				t.Fatalf("the test policy has no %s; it must have every type", typ)
			}
			versions[i][typ] = snap.GetVersion(typ)
		}
	}
	for typ, v := range versions[0] {
		if versions[1][typ] != v {
			t.Errorf("%s: version %s in %s, %s in %s", typ, v, first, versions[1][typ], second)
		}
	}
}

// writeReplicaPolicy writes the TLS golden policy, its certificates and an
// auth section with a keys file.
func writeReplicaPolicy(t *testing.T, dir string) {
	t.Helper()
	gateway, err := os.ReadFile(filepath.Join("testdata", "tls", "input", "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"gateway.yaml": string(gateway),
		"auth.yaml": `
auth:
  api_keys: { file: keys/keys.yaml }
`,
		"keys/keys.yaml": "keys: []\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeGoldenCerts(t, filepath.Join(dir, "certs"))
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
