package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePolicy writes files (name → content) into a new directory.
func writePolicy(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const validPolicy = `
listeners:
  - { name: public, port: 8080 }
services:
  orders: { endpoints: [127.0.0.1:9001, { address: orders.internal:8080, weight: 3 }] }
  users: { endpoints: [127.0.0.1:9003], load_balancing: ring_hash, hash_on: { client_ip: true } }
routes:
  - name: orders
    match: { path_prefix: /orders, methods: [GET], headers: [{ name: x-a, present: true }], query: [{ name: q, regex: "^[a-z]+$" }] }
    to: [{ service: orders, weight: 90 }, { service: users, weight: 10 }]
  - { name: users, match: { path_regex: "^/users/[0-9]+$" }, to: users }
`

func TestLoadValidAppliesDefaults(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"gateway.yaml": validPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	l := p.Listeners[0]
	if l.Address != "0.0.0.0" || len(l.Hosts) != 1 || l.Hosts[0] != "*" {
		t.Errorf("listener defaults: got address %q hosts %v", l.Address, l.Hosts)
	}
	orders := p.Services["orders"]
	if orders.LoadBalancing != RoundRobin || orders.ConnectTimeout.D() != 2*time.Second {
		t.Errorf("service defaults: got %q %v", orders.LoadBalancing, orders.ConnectTimeout.D())
	}
	if e := orders.Endpoints[0]; e.Host != "127.0.0.1" || e.Port != 9001 || e.Weight != 1 {
		t.Errorf("endpoint 0: got %+v", e)
	}
	if e := orders.Endpoints[1]; e.Host != "orders.internal" || e.Weight != 3 || e.IsIP() {
		t.Errorf("endpoint 1: got %+v", e)
	}
	if !orders.UsesDNS() || p.Services["users"].UsesDNS() {
		t.Error("UsesDNS: orders has a DNS endpoint, users does not")
	}
	if got := p.Routes[1].To[0].Weight; got != 1 {
		t.Errorf("single destination weight: got %d, want 1", got)
	}
	if p.Routes[1].Match.PathPrefix != "" {
		t.Error("a regex route must not get a default prefix")
	}
	if p.Version == "" {
		t.Error("no version")
	}
}

func TestLoadMergesFilesInOrder(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"10-base.yaml": "listeners: [{ name: public, port: 8080 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes: [{ name: first, to: a }]\n",
		"20-more.yml":  "services: { b: { endpoints: [127.0.0.1:2] } }\nroutes: [{ name: second, to: b }]\n---\nroutes: [{ name: third, to: a }]\n",
		".hidden.yaml": "not: [valid",
		"notes.txt":    "ignored",
	})
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range p.Routes {
		got = append(got, r.Name)
	}
	if strings.Join(got, ",") != "first,second,third" {
		t.Errorf("route order: got %v", got)
	}
	if len(p.Files) != 2 {
		t.Errorf("files: got %v", p.Files)
	}
}

func TestVersionFollowsContent(t *testing.T) {
	a, err := Load(writePolicy(t, map[string]string{"g.yaml": validPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(writePolicy(t, map[string]string{"g.yaml": validPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(writePolicy(t, map[string]string{"g.yaml": validPolicy + "\n# comment\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != b.Version || a.Version == c.Version {
		t.Errorf("versions: same content %s/%s, changed content %s", a.Version, b.Version, c.Version)
	}
}

// checkErrors loads dir and checks it fails with exactly the wanted errors
// in bad.yaml.
func checkErrors(t *testing.T, dir string, want []string) {
	t.Helper()
	p, err := Load(dir)
	if err == nil {
		t.Fatalf("accepted an invalid policy: %+v", p)
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	file := filepath.Join(dir, "bad.yaml") + ":"
	for _, w := range want {
		if !strings.Contains(err.Error(), file+w) {
			t.Errorf("missing %q in:\n%v", file+w, err)
		}
	}
}

// Each case is a broken policy and the errors it must produce, each as
// "line:col: text" (the file name is checked separately).
var invalidCases = []struct {
	name   string
	policy string
	want   []string
}{
	{"unknown field", "listeners:\n  - { name: a, port: 1, prot: 2 }\n", []string{`2:25: listeners[0].prot: unknown field "prot"; expected one of: address, client_address, client_ips, compression, cors, groups, headers, hosts, keep_client_headers, name, port`}},
	{"unknown top-level field", "listener: []\n", []string{`1:1: listener: unknown field "listener"`}},
	{"wrong type", "listeners:\n  - name: a\n    port: eighty\n", []string{`3:11: listeners[0].port: expected an integer, found "eighty"`}},
	{"list expected", "listeners: { name: a }\n", []string{`1:12: listeners: expected a list, found a mapping`}},
	{"client header a listener cannot keep", "listeners:\n  - { name: a, port: 1, keep_client_headers: [X-Forwarded-Host, x-forwarded-for] }\n", []string{`2:46: listeners.a.keep_client_headers: "x-forwarded-for" is not a client header the gateway removes; one of: forwarded,`}},
	{"client address without a mode", "listeners:\n  - { name: a, port: 1, client_address: { proxy_protocol: false } }\n", []string{`2:41: listeners.a.client_address: set one of trusted_hops: N (1 to 10), trusted_cidrs: [CIDR, ...] or proxy_protocol: true`}},
	{"client address with two modes", "listeners:\n  - { name: a, port: 1, client_address: { trusted_hops: 1, proxy_protocol: true } }\n", []string{`2:41: listeners.a.client_address: set only one of trusted_hops`}},
	{"trusted hops out of range", "listeners:\n  - { name: a, port: 1, client_address: { trusted_hops: 11 } }\n  - { name: b, port: 2, client_address: { trusted_hops: 0 } }\n", []string{
		`2:57: listeners.a.client_address.trusted_hops: trusted_hops must be between 1 and 10, got 11`,
		`3:57: listeners.b.client_address.trusted_hops: trusted_hops must be between 1 and 10, got 0`,
	}},
	{"bad trusted CIDRs", "listeners:\n  - name: a\n    port: 1\n    client_address:\n      trusted_cidrs: [10.0.0.0/8, 10.1.2.3/16, 0.0.0.0/0, lb.internal, \"::1/129\"]\n", []string{
		`5:22: listeners.a.client_address.trusted_cidrs[1]: "10.1.2.3/16" has bits set past its /16 prefix; did you mean 10.1.0.0/16?`,
		`5:22: listeners.a.client_address.trusted_cidrs[2]: "0.0.0.0/0" trusts every address, so any client could choose its own`,
		`5:22: listeners.a.client_address.trusted_cidrs[3]: "lb.internal" is not a CIDR (10.0.0.0/8) or an IP address`,
		`5:22: listeners.a.client_address.trusted_cidrs[4]: "::1/129" is not a CIDR`,
	}},
	{"empty trusted CIDRs", "listeners:\n  - { name: a, port: 1, client_address: { trusted_cidrs: [] } }\n", []string{`2:58: listeners.a.client_address.trusted_cidrs: list the addresses of the trusted proxies`}},
	{"bad duration", "services:\n  a: { endpoints: [127.0.0.1:1], connect_timeout: 5 }\n", []string{`2:51: services.a.connect_timeout: invalid duration "5"`}},
	{"unknown service", "listeners: [{ name: l, port: 1 }]\nroutes:\n  - name: r\n    to: nowhere\n", []string{`4:9: routes.r.to[0].service: unknown service "nowhere"`}},
	{"duplicate route", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: a }\n  - { name: r, to: a }\n", []string{`5:13: routes[1].name: route "r" is already defined at`}},
	{"duplicate key", "services:\n  a: { endpoints: [127.0.0.1:1] }\n  a: { endpoints: [127.0.0.1:2] }\n", []string{`3:3: services.a: "a" is repeated (first at line 2)`}},
	{"invalid regex", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, match: { path_regex: \"^/(a\" }, to: a }\n", []string{`4:37: routes.r.match.path_regex: invalid regular expression: missing closing )`}},
	{"impossible values", "listeners: [{ name: l, port: 70000 }]\nservices:\n  a: { endpoints: [127.0.0.1:0, { address: 127.0.0.1:2, weight: -1 }], load_balancing: fastest }\n", []string{
		`1:30: listeners.l.port: port must be between 1 and 65535, got 70000`,
		`3:20: services.a.endpoints[0]: port "0" must be between 1 and 65535`,
		`3:65: services.a.endpoints[1].weight: weight must be between 1 and 128, got -1`,
		`3:88: services.a.load_balancing: unknown load balancing "fastest"`,
	}},
	{"regex too large for Envoy", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, match: { path_regex: \"^/x/[a-z]{1000}$\" }, to: a }\n", []string{`4:37: routes.r.match.path_regex: regular expression too large for Envoy (program size 1007, at most 1000)`}},
	{"split without weight", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: [{ service: a, weight: 1 }, { service: a }] }\n", []string{`4:48: routes.r.to[1].weight: each service of a split needs a weight`}},
	{"ring hash without key", "services:\n  a: { endpoints: [127.0.0.1:1], load_balancing: ring_hash }\n", []string{`2:50: services.a.hash_on: ring_hash needs hash_on`}},
	{"two path forms", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, match: { path: /a, path_prefix: /b }, to: a }\n", []string{`4:23: routes.r.match: set at most one of path_prefix, path and path_regex`}},
	{"header match needs one form", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, match: { headers: [{ name: x, exact: a, regex: b }] }, to: a }\n", []string{`4:35: routes.r.match.headers[0]: set exactly one of exact, regex and present`}},
	{"bad method and listener", "listeners: [{ name: l, port: 1 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, listeners: [m], match: { methods: [get] }, to: a }\n", []string{
		`4:27: routes.r.listeners: unknown listener "m"`,
		`4:50: routes.r.match.methods: unknown method "get"`,
	}},
	{"syntax error", "listeners: [\n", []string{`2:1: did not find expected node content at the end of the file`}},
	{"empty service", "services:\n  a:\n", []string{`2:5: services.a.endpoints: a service needs at least one endpoint`}},
	{"decoding and validation errors together", "listeners:\n  - { name: l, port: x }\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes:\n  - { name: r, to: b }\n", []string{
		`2:22: listeners[0].port: expected an integer, found "x"`,
		`5:20: routes.r.to[0].service: unknown service "b"`,
	}},
}

func TestLoadRejectsInvalidPolicyWithPositions(t *testing.T) {
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, writePolicy(t, map[string]string{"bad.yaml": tc.policy}), tc.want)
		})
	}
}

func TestLoadReportsDuplicateServiceAcrossFiles(t *testing.T) {
	dir := writePolicy(t, map[string]string{
		"a.yaml": "services:\n  orders: { endpoints: [127.0.0.1:1] }\n",
		"b.yaml": "\nservices:\n  orders: { endpoints: [127.0.0.1:2] }\n",
	})
	_, err := Load(dir)
	want := filepath.Join(dir, "b.yaml") + `:3:11: services.orders: service "orders" is already defined at ` + filepath.Join(dir, "a.yaml") + ":2:11"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func TestLoadEmptyDirectory(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no policy files") {
		t.Fatalf("got %v", err)
	}
}

// FuzzLoad feeds arbitrary bytes as a policy file: Load may reject them but
// must never panic, and an accepted policy must be internally consistent.
func FuzzLoad(f *testing.F) {
	f.Add(validPolicy)
	for _, tc := range invalidCases {
		f.Add(tc.policy)
	}
	f.Fuzz(func(t *testing.T, content string) {
		dir := writePolicy(t, map[string]string{"f.yaml": content})
		p, err := Load(dir)
		if err != nil {
			return
		}
		for _, r := range p.Routes {
			for _, d := range r.To {
				if p.Services[d.Service] == nil {
					t.Fatalf("accepted route %q to unknown service %q", r.Name, d.Service)
				}
			}
		}
	})
}
