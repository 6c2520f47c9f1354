package policy

import (
	"reflect"
	"sync"
	"testing"
)

// assertCachedAgrees checks that Decide over the index Load builds
// answers as Decide over the policy alone (routes listed and expressions
// compiled per call), the way it answered before the index existed.
func assertCachedAgrees(t *testing.T, p *Policy, req Request) {
	t.Helper()
	if p.routing == nil {
		t.Fatal("Load built no routing index")
	}
	uncached := *p
	uncached.routing = nil
	if got, want := p.Decide(req), uncached.Decide(req); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v: cached Decide = %+v, uncached %+v", req, got, want)
	}
}

// TestRoutingCompilesEveryExpressionOnce checks that Load compiles every
// expression Decide matches with, so that no request compiles one, and
// that concurrent Decide calls share the index (run with -race).
func TestRoutingCompilesEveryExpressionOnce(t *testing.T) {
	p, err := Load(writePolicy(t, map[string]string{"p.yaml": matchPolicy}))
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{
		anchored("^/items/[0-9]+$"),
		HostPattern([]string{"api.example.com", "*.example.org"}),
		HostPattern([]string{"api.example.com:8443"}),
		anchored("v[12]"),
		anchored("[0-9]+"),
		QueryParamPattern("trace"),
	} {
		if p.routing.regexps[expr] == nil {
			t.Errorf("%q not compiled at load", expr)
		}
	}
	if got := len(p.routing.routes["internal"]); got != len(p.RoutesFor("internal")) {
		t.Errorf("internal has %d routes indexed, want %d", got, len(p.RoutesFor("internal")))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, path := range []string{"/items/7", "/h", "/q?id=1", "/qa?trace", "/api"} {
				assertCachedAgrees(t, p, Request{Listener: "public", Method: "GET", Host: "a.example.org", Path: path})
			}
		})
	}
	wg.Wait()
}
