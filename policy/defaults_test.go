package policy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// docsDefaultsRows are the rows of the Defaults table of docs/policy.md,
// without its group headings (bold rows).
func docsDefaultsRows(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Defaults\n")
	if !ok {
		t.Fatal(`docs/policy.md has no "## Defaults" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| **") || line == "| field | default |" {
			continue
		}
		rows = append(rows, line)
	}
	return rows
}

// docsRow is a Default as a row of the docs' table.
func docsRow(d Default) string { return fmt.Sprintf("| `%s` | %s |", d.Field, d.Value) }

// TestDefaultsTableMatchesDocs keeps docs/policy.md's Defaults table equal
// to the code's, row for row: a default added, removed or changed in one
// and not the other fails.
func TestDefaultsTableMatchesDocs(t *testing.T) {
	docs := docsDefaultsRows(t)
	var want []string
	for _, d := range Defaults {
		want = append(want, docsRow(d))
	}
	for i := range max(len(docs), len(want)) {
		var got, w string
		if i < len(docs) {
			got = docs[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if got != w {
			t.Errorf("docs/policy.md Defaults row %d:\n  docs: %s\n  code: %s", i+1, got, w)
		}
	}
	if t.Failed() {
		t.Logf("the table as policy.Defaults has it:\n%s", strings.Join(want, "\n"))
	}
}

// defaultsInputs are policies that leave out every field that has a
// default, each in a block that makes its default apply.
var defaultsInputs = []string{
	`listeners:
  - { name: public, port: 8080 }
  - { name: secure, port: 8443, tls: { certificates: [{ cert: certs/api.pem, key: certs/api-key.pem }] } }
services:
  plain: { endpoints: [127.0.0.1:9001] }
  guarded:
    endpoints: [127.0.0.1:9002]
    tls: { sni: guarded.internal, ca: certs/ca.pem }
    circuit_breaker: {}
    outlier_detection: {}
    health_check: { path: /healthz }
    retry_budget: {}
  ranked:
    endpoints: [127.0.0.1:9003]
    outlier_detection: { success_rate: {} }
routes:
  - { name: r, to: plain, retries: { attempts: 1 }, rate_limits: [tb] }
  - { name: moved, match: { path: /old }, redirect: { path: /new } }
  - { name: gone, match: { path: /v1 }, respond: { status: 410, body: gone } }
rate_limits:
  tb: { token_bucket: { rate: 10/s } }
rate_limit_store: { redis: { address: 127.0.0.1:6379 } }
auth:
  api_keys: { file: keys/keys.yaml, optional: true }
  jwt: [{ issuer: https://idp.example.com, jwks_uri: https://idp.example.com/jwks }]
`,
	`rate_limit_store: { redis: { address: 127.0.0.1:6379 }, on_failure: grace }
`,
	`listeners: [{ name: public, port: 8080 }]
services: { a: { endpoints: [127.0.0.1:9001] }, b: { endpoints: [127.0.0.1:9002] } }
routes:
  - { name: r, to: a, mirror: { service: b }, fault: { delay: { duration: 1s }, abort: { status: 503 } }, compression: {} }
`,
	`rollout: { stages: [{ name: canary, groups: [canary] }] }
`,
}

// TestEveryAppliedDefaultHasItsRow loads policies that leave every
// defaulted field out, compares each with the same policy before
// defaults, and checks that every field Load filled in has its row in
// Defaults, with the value Load wrote; and that every applied row was seen
// applied. A default cannot change, or be added, without its row.
func TestEveryAppliedDefaultHasItsRow(t *testing.T) {
	rows := map[string]Default{}
	for _, d := range Defaults {
		rows[d.Field] = d
	}
	seen := map[string]bool{}
	for _, input := range defaultsInputs {
		files := []string{tlsFiles(t, input) + "/bad.yaml"} // certificates beside it
		before, _, err := loadValid(files, newFileReads(nil))
		if err != nil {
			t.Fatal(err)
		}
		after, _, err := loadValid(files, newFileReads(nil))
		if err != nil {
			t.Fatal(err)
		}
		applyDefaults(after)
		for field, value := range appliedDefaults(before, after) {
			seen[field] = true
			d, ok := rows[field]
			switch {
			case !ok:
				t.Errorf("Load defaults %s to %s, and policy.Defaults has no row for it", field, value)
			case !d.Applied:
				t.Errorf("Load defaults %s to %s, and its row says it is not applied", field, value)
			case strings.HasPrefix(d.Value, "`") && !strings.HasPrefix(d.Value, code(value.Interface())):
				t.Errorf("Load defaults %s to %s, and its row says %s", field, code(value.Interface()), d.Value)
			}
		}
	}
	for _, d := range Defaults {
		if d.Applied && !seen[d.Field] {
			t.Errorf("row %s says Load applies its default, and no test input shows it (extend defaultsInputs, or mark it not applied)", d.Field)
		}
	}
}

// appliedDefaults are the fields (by path, as in Default.Field) whose value
// differs between a policy before and after defaults, with the value.
func appliedDefaults(before, after *Policy) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	doc := reflect.TypeFor[document]()
	for i := range doc.NumField() {
		f := doc.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		diffValues(name, reflect.ValueOf(before).Elem().FieldByName(f.Name), reflect.ValueOf(after).Elem().FieldByName(f.Name), out)
	}
	return out
}

// diffValues walks a and b, values of one type, by their YAML field names,
// and records the leaves that differ under path.
func diffValues(path string, a, b reflect.Value, out map[string]reflect.Value) {
	switch {
	case b.Kind() == reflect.Pointer && b.Elem().Kind() == reflect.Struct:
		if b.IsNil() {
			return
		}
		if a.IsNil() {
			a = reflect.New(b.Elem().Type())
		}
		diffValues(path, a.Elem(), b.Elem(), out)
	case b.Kind() == reflect.Struct && hasYAMLFields(b.Type()):
		for i := range b.NumField() {
			name, _, _ := strings.Cut(b.Type().Field(i).Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				diffValues(path+"."+name, a.Field(i), b.Field(i), out)
			}
		}
	case b.Kind() == reflect.Map && b.Type().Elem().Kind() == reflect.Pointer:
		for _, k := range b.MapKeys() {
			diffValues(path+".*", a.MapIndex(k), b.MapIndex(k), out)
		}
	case b.Kind() == reflect.Slice && b.Type().Elem().Kind() == reflect.Pointer:
		for i := range b.Len() {
			diffValues(path+"[]", a.Index(i), b.Index(i), out)
		}
	case !reflect.DeepEqual(a.Interface(), b.Interface()):
		out[path] = b
	}
}

// hasYAMLFields reports whether a struct is a YAML mapping (rather than a
// scalar decoded into a struct, such as a rate).
func hasYAMLFields(t reflect.Type) bool {
	return slices.ContainsFunc(reflect.VisibleFields(t), func(f reflect.StructField) bool {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		return name != "" && name != "-"
	})
}

// defaultsUsedOutsidePolicy are the uses of policy.Default* constants
// allowed outside policy, by file and constant, each a value that is no
// policy field's default.
var defaultsUsedOutsidePolicy = map[string]bool{
	// Tollgate's own gRPC clusters are not policy services; they get
	// what one gets by default.
	"xds/grpccluster.go DefaultConnectTimeout": true,
	// --ratelimit-on-failure grace over a policy whose store is not in
	// grace: the flag's period, as the policy's would be.
	"ratelimiter/open.go DefaultGracePeriod": true,
}

// TestNoDefaultsOutsidePolicy: the translator, the authz engine, the rate
// limiter and the binary read resolved values; a policy.Default* constant
// used outside policy is almost always a default applied a second time
// ("for hand-built policies"), which is how the two drift apart.
func TestNoDefaultsOutsidePolicy(t *testing.T) {
	fset := token.NewFileSet()
	for _, dir := range []string{"xds", "authz", "ratelimiter", "accesslog", "cmd/tollgate", "internal/reloader", "internal/admin"} {
		files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok || !strings.HasPrefix(sel.Sel.Name, "Default") {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "policy" {
					rel := strings.TrimPrefix(filepath.ToSlash(file), "../")
					if _, allowed := defaultsUsedOutsidePolicy[rel+" "+sel.Sel.Name]; !allowed {
						t.Errorf("%s: uses policy.%s: read the resolved value Load gives instead", fset.Position(sel.Pos()), sel.Sel.Name)
					}
				}
				return true
			})
		}
	}
}
