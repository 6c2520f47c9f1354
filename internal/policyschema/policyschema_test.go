package policyschema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/policy"
)

const committed = "../../docs/policy.schema.json"

// The committed schema is the one the policy types give: `go generate
// ./docs/` rewrites it after a change to the format.
func TestCommittedSchemaIsUpToDate(t *testing.T) {
	got, err := Generate("../../policy")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what the policy types give; run `go generate ./docs/` (or `make schema`) and commit it", committed)
	}
}

// compileSchema compiles the committed schema with a draft 2020-12
// validator.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(committed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(policy.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(policy.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validateYAML validates every document of a YAML file against the schema,
// as an editor does.
func validateYAML(s *jsonschema.Schema, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
		js, err := json.Marshal(v)
		if err != nil {
			return err
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			return err
		}
		if err := s.Validate(inst); err != nil {
			return err
		}
	}
}

// Every example policy is valid by the schema: examples/, the golden
// policies of the translator, and every whole policy file in
// docs/policy.md.
func TestSchemaAcceptsTheExamples(t *testing.T) {
	s := compileSchema(t)
	var files []string
	for _, glob := range []string{"../../examples/*/*.yaml", "../../xds/testdata/*/policy/*.yaml", "../../xds/testdata/tls/input/*.yaml"} {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d example files", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateYAML(s, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	blocks := wholeFileBlocks(t, "../../docs/policy.md")
	if len(blocks) < 10 {
		t.Fatalf("only %d whole policy files in docs/policy.md", len(blocks))
	}
	for _, b := range blocks {
		if err := validateYAML(s, []byte(b.text)); err != nil {
			t.Errorf("docs/policy.md:%d: %v", b.line, err)
		}
	}
}

type block struct {
	line int
	text string
}

var fenceRE = regexp.MustCompile("(?ms)^```yaml\n(.*?)^```")

// wholeFileBlocks are the yaml blocks of a Markdown file that are whole
// policy files: a mapping of top-level policy sections only.
func wholeFileBlocks(t *testing.T, path string) []block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	raw, err := os.ReadFile(committed)
	if err == nil {
		err = json.Unmarshal(raw, &schema)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []block
	for _, m := range fenceRE.FindAllSubmatchIndex(data, -1) {
		text := string(data[m[2]:m[3]])
		var top map[string]any
		if yaml.Unmarshal([]byte(text), &top) != nil || len(top) == 0 {
			continue
		}
		whole := true
		for k := range top {
			_, ok := schema.Properties[k]
			whole = whole && ok
		}
		if whole {
			out = append(out, block{line: bytes.Count(data[:m[2]], []byte("\n")) + 1, text: text})
		}
	}
	return out
}

// schemaCase is a policy file the decoder (policy.Load: decoding and
// validation) and the schema must judge alike.
type schemaCase struct {
	name   string
	file   string
	reject bool
}

// base is a whole valid policy; each case edits it.
const base = `listeners: [{ name: public, port: 8080 }]
services:
  orders: { endpoints: [127.0.0.1:9001], connect_timeout: 1s, load_balancing: round_robin }
rate_limits:
  per-ip: { key: [client_ip], token_bucket: { rate: 10/s, burst: 20 } }
routes:
  - { name: orders, match: { path_prefix: /orders }, to: orders, auth: { public: true }, timeout: 5s, rate_limits: [per-ip] }
`

var schemaCases = []schemaCase{
	{"the base policy", base, false},
	{"an endpoint as a mapping", strings.Replace(base, "[127.0.0.1:9001]", "[{ address: 127.0.0.1:9001, weight: 2 }]", 1), false},
	{"weighted destinations", strings.Replace(base, "to: orders,", "to: [{ service: orders, weight: 100 }],", 1), false},
	{"a port read as a string field", strings.Replace(base, "path_prefix: /orders", "path_prefix: /orders, hosts: [8080]", 1), false},
	{"a rate per duration", strings.Replace(base, "rate: 10/s", "rate: 100/10s", 1), false},
	{"a null section", base + "tiers:\n", false},
	{"rate_limit_headers as a word", base + "rate_limit_headers: legacy\n", false},

	{"an unknown top-level field", base + "listner: []\n", true},
	{"an unknown listener field", strings.Replace(base, "port: 8080", "port: 8080, prot: 1", 1), true},
	{"an unknown route field", strings.Replace(base, "timeout: 5s", "timout: 5s", 1), true},
	{"a port that is not an integer", strings.Replace(base, "port: 8080", "port: eighty", 1), true},
	{"a quoted port", strings.Replace(base, "port: 8080", `port: "8080"`, 1), true},
	{"a list where a mapping goes", strings.Replace(base, "match: { path_prefix: /orders }", "match: [/orders]", 1), true},
	{"a mapping where a list goes", strings.Replace(base, "[127.0.0.1:9001]", "{ a: 127.0.0.1:9001 }", 1), true},
	{"a string where a boolean goes", strings.Replace(base, "public: true", "public: yes-please", 1), true},
	{"a duration without a unit", strings.Replace(base, "timeout: 5s", "timeout: 5", 1), true},
	{"a bad duration", strings.Replace(base, "connect_timeout: 1s", "connect_timeout: soon", 1), true},
	{"a bad rate", strings.Replace(base, "rate: 10/s", "rate: 10 per second", 1), true},
	{"a bad load_balancing", strings.Replace(base, "load_balancing: round_robin", "load_balancing: fastest", 1), true},
	{"a bad rate_limit_headers", base + "rate_limit_headers: loud\n", true},
	{"a bad auth failure_mode", base + "auth: { failure_mode: maybe }\n", true},
	{"a bad protocol", strings.Replace(base, "load_balancing: round_robin", "protocol: http9", 1), true},
	{"a null string", strings.Replace(base, "path_prefix: /orders", "path_prefix: ~", 1), true},
	{"a password in the policy", base + "rate_limit_store: { redis: { address: 127.0.0.1:6379, password: hunter2 } }\n", true},
}

// The schema refuses the mistakes policy.Load refuses, and accepts what
// it accepts, on a table of cases.
func TestSchemaJudgesLikeTheDecoder(t *testing.T) {
	s := compileSchema(t)
	for _, c := range schemaCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
			_, loadErr := policy.Load(dir)
			schemaErr := validateYAML(s, []byte(c.file))
			if (loadErr != nil) != c.reject {
				t.Errorf("policy.Load: %v; want reject=%v", loadErr, c.reject)
			}
			if (schemaErr != nil) != c.reject {
				t.Errorf("schema: %v; want reject=%v", schemaErr, c.reject)
			}
		})
	}
}
