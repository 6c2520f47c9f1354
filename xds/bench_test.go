package xds

import (
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/policy"
)

// largePolicy has one listener, 1,000 services with three endpoints each,
// and ten routes per service (10,000 routes). Every tenth route names one
// of ten hosts, so the route configuration has eleven virtual hosts.
func largePolicy() *policy.Policy {
	p := &policy.Policy{
		Version:   "bench",
		Listeners: []*policy.Listener{{Name: "public", Address: "0.0.0.0", Port: 8080, Hosts: []string{"*"}}},
		Services:  map[string]*policy.Service{},
	}
	for s := range 1000 {
		name := fmt.Sprintf("svc-%04d", s)
		p.Services[name] = ipService(name, 10000+s, 20000+s, 30000+s)
		for r := range 10 {
			route := prefixRoute(fmt.Sprintf("%s-r%d", name, r), fmt.Sprintf("/%s/r%d", name, r), name)
			route.Match.Methods = []string{"GET", "HEAD"}
			route.Match.Headers = []*policy.ValueMatch{{Name: "x-tenant", Exact: "acme"}}
			if r == 0 {
				route.Match.Hosts = []string{fmt.Sprintf("h%d.example.com", s%10)}
			}
			p.Routes = append(p.Routes, route)
		}
	}
	return p
}

func BenchmarkTranslate10kRoutes1kServices(b *testing.B) {
	p := largePolicy()
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
	p := largePolicy()
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
	p := largePolicy()
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
