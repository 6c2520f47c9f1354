package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/internal/testcerts"
	"github.com/tollgate/tollgate/xds"
)

// translate prints every resource type of the example policy, in YAML
// by default and in JSON, with the same content.
func TestTranslatePrintsTheExampleResources(t *testing.T) {
	var yamlOut, jsonOut, errOut bytes.Buffer
	if code := run([]string{"translate", "../../examples/gateway"}, &yamlOut, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if code := run([]string{"translate", "--format", "json", "../../examples/gateway"}, &jsonOut, &errOut); code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut.String())
	}
	var fromYAML, fromJSON xds.Rendered
	if err := yaml.Unmarshal(yamlOut.Bytes(), &fromYAML); err != nil {
		t.Fatalf("yaml: %v\n%s", err, yamlOut.String())
	}
	if err := json.Unmarshal(jsonOut.Bytes(), &fromJSON); err != nil {
		t.Fatalf("json: %v\n%s", err, jsonOut.String())
	}
	for _, doc := range []xds.Rendered{fromYAML, fromJSON} {
		if doc.Group != "default" || len(doc.Listeners) != 1 || len(doc.Routes) != 1 || len(doc.Clusters) < 3 || len(doc.Endpoints) < 3 {
			t.Errorf("got group %q, %d listeners, %d routes, %d clusters, %d endpoints",
				doc.Group, len(doc.Listeners), len(doc.Routes), len(doc.Clusters), len(doc.Endpoints))
		}
	}
	for _, want := range []string{"name: public", "clusterName: orders", "name: orders-v2"} {
		if !strings.Contains(yamlOut.String(), want) {
			t.Errorf("yaml lacks %q", want)
		}
	}
}

// Secrets appear by name and never with their content.
func TestTranslateNamesSecretsWithoutKeys(t *testing.T) {
	dir := t.TempDir()
	ca, err := testcerts.NewCA("translate-ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(testcerts.Options{CommonName: "api", DNSNames: []string{"api.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := leaf.Write(filepath.Join(dir, "api.pem"), filepath.Join(dir, "api-key.pem")); err != nil {
		t.Fatal(err)
	}
	policyFile := `listeners:
  - name: public
    port: 8443
    tls: { certificates: [{ cert: api.pem, key: api-key.pem }] }
services:
  s: { endpoints: [127.0.0.1:9001] }
routes:
  - { name: r, match: { path_prefix: / }, to: s, auth: { public: true } }
`
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(policyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"yaml", "json"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"translate", "--format", format, dir}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut.String())
		}
		if !strings.Contains(out.String(), "listener/public/cert/0") {
			t.Errorf("%s: the secret's name is missing:\n%s", format, out.String())
		}
		if strings.Contains(out.String(), "PRIVATE KEY") || strings.Contains(out.String(), "BEGIN") {
			t.Errorf("%s: key material in the output:\n%s", format, out.String())
		}
	}
}

func TestTranslateErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"translate", "--format", "xml", "../../examples/gateway"}, &out, &errOut); code != 2 {
		t.Errorf("--format xml: exit %d, want 2", code)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("listeners: [{ name: x, port: nope }]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	if code := run([]string{"translate", dir}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "a.yaml:1:") {
		t.Errorf("bad policy: exit %d, stderr %q; want 1 with file:line", code, errOut.String())
	}
}

// --group picks the node group: each gets its own listener and status,
// which every group gets.
func TestTranslateGroup(t *testing.T) {
	for group, want := range map[string]string{"edge": "public status", "internal": "mesh status", "default": "status"} {
		var out, errOut bytes.Buffer
		if code := run([]string{"translate", "--format", "json", "--group", group, "../../xds/testdata/groups/policy"}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", group, code, errOut.String())
		}
		var doc struct {
			Group     string
			Listeners []struct{ Name string }
		}
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, l := range doc.Listeners {
			names = append(names, l.Name)
		}
		if doc.Group != group || strings.Join(names, " ") != want {
			t.Errorf("--group %s: got group %s, listeners %v; want %s", group, doc.Group, names, want)
		}
	}
}
