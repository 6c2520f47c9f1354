package xds

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/internal/policytest"
	"github.com/tollgate/tollgate/policy"
)

// largePolicy has one listener, 1,000 services with three endpoints each,
// and ten routes per service (10,000 routes). Every tenth route names one
// of ten hosts, so the route configuration has eleven virtual hosts.
func largePolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	return policytest.Load(tb, largePolicyYAML(""))
}

// largePolicyYAML is largePolicy's YAML; prefix0, when set, replaces the
// first route's path prefix.
func largePolicyYAML(prefix0 string) string {
	var services, routes strings.Builder
	for s := range 1000 {
		name := fmt.Sprintf("svc-%04d", s)
		services.WriteString(ipServiceYAML(name, 10000+s, 20000+s, 30000+s))
		for r := range 10 {
			prefix := fmt.Sprintf("/%s/r%d", name, r)
			if s == 0 && r == 0 && prefix0 != "" {
				prefix = prefix0
			}
			routes.WriteString(fmt.Sprintf("  - name: %s-r%d\n    to: %s\n", name, r, name))
			routes.WriteString(fmt.Sprintf("    match: { path_prefix: %s, methods: [GET, HEAD], headers: [{ name: x-tenant, exact: acme }]", prefix))
			if r == 0 {
				routes.WriteString(fmt.Sprintf(", hosts: [h%d.example.com]", s%10))
			}
			routes.WriteString(" }\n")
		}
	}
	return "listeners: [{ name: public, port: 8080 }]\nservices:\n" + services.String() + "routes:\n" + routes.String()
}

func BenchmarkTranslate10kRoutes1kServices(b *testing.B) {
	p := largePolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Translate(p, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot10kRoutes1kServices adds content versioning (a
// deterministic marshal and hash of every resource) to the translation.
func BenchmarkSnapshot10kRoutes1kServices(b *testing.B) {
	p := largePolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Snapshot(p, DefaultGroup, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidation10kRoutes1kServices measures what validating every
// resource (validate.go) adds to a translation: the same policy is
// translated without validation (the baseline) and with it, in one run.
func BenchmarkValidation10kRoutes1kServices(b *testing.B) {
	p := largePolicy(b)
	b.Run("translate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := translate(p, DefaultGroup, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("translate+validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Translate(p, DefaultGroup, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
