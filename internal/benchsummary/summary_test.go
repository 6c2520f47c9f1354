package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestRenderSampleOutput renders saved `go test -bench` output of every
// benchmark `make bench` runs and checks the table's cells: values,
// baselines, ratios and whether each target is met.
func TestRenderSampleOutput(t *testing.T) {
	res := parseFile(t, "testdata/bench.txt")
	table := Render(res)
	for _, want := range []string{
		"| figure | value | baseline | ratio | target | met? |",
		"| protected route throughput, closed loop (vegeta, real Envoy) | 2052 req/s | plain route, same Envoy: 4314 req/s | 0.47 | ≥ 0.6 (stretch 0.75) | **no** |",
		"| added p50 at half the protected route's capacity, open loop | +4.03 ms at 1025 req/s | plain route: 0.75 ms | — | ≤ +0.3 ms | **no** |",
		"| added p99 at half the protected route's capacity, open loop | -15.5 ms at 1025 req/s | plain route: 10.2 ms | — | ≤ +1 ms | yes |",
		"| ShouldRateLimit, Redis store, c64 (pipelined, one descriptor) | ratio quartiles 0.44–0.52, 0.050 Redis round trips/decision | no-op RLS server | 0.48 | ≥ 0.8 | **no** |",
		"| ShouldRateLimit, Redis store, c16: CPU per decision | Go 58.7 µs + redis-server 15.8 µs | no-op RLS server: 31.4 µs | 0.42 | — | — |",
		"| ShouldRateLimit, memory store (c32, three descriptors) | 23000 decisions/s | no-op RLS server: 27000/s | 0.85 | ≥ 0.85 | yes |",
		"| Check, API key | 20000 checks/s | no-op ext_authz: 26000/s | 0.76 | ≥ 0.7 (kept) | yes |",
		"| one-route change to 1,000 delta clients, 10,000 routes | 2300 ms | SotW, same case: 2140 ms | 1.07 | ≤ 2 s, ≤ 1.2 × SotW | **no** |",
		"| control-plane heap per 1,000 routes (delta) | 9.29 MiB | — | — | ≤ 25 MiB | yes |",
		"| control-plane heap per connected Envoy (sotw, 200 routes, 50 services) | 66.6 KiB | — | — | ≤ 150 KiB | yes |",
		"| control-plane heap per connected Envoy (delta, 10,000 routes, 1,000 services) | 276 KiB | — | — | ≤ 150 KiB | **no** |",
		"| translate 10,000 routes, 1,000 services | 18.7 ms, 244k allocs, 17.3 MB | — | — | — | — |",
	} {
		if !strings.Contains(table, want+"\n") {
			t.Errorf("the table lacks the line\n%s\ntable:\n%s", want, table)
		}
	}
	if strings.Contains(table, "not measured") {
		t.Errorf("a row of the sample is not measured:\n%s", table)
	}
}

// TestEveryIssueFigureHasARow checks that each figure of issue 12's
// table is answered by a row with a target, and that a benchmark that
// did not run shows as such rather than as a figure.
func TestEveryIssueFigureHasARow(t *testing.T) {
	for _, fig := range IssueFigures {
		i := slices.IndexFunc(Rows, func(r Row) bool { return r.Issue == fig })
		if i < 0 {
			t.Errorf("no row answers the issue's figure %q", fig)
			continue
		}
		if Rows[i].Target == "" || Rows[i].Target == "—" {
			t.Errorf("the row for %q has no target", fig)
		}
	}
	table := Render(Results{})
	if n := strings.Count(table, "| not measured |"); n != len(Rows) {
		t.Errorf("%d rows say not measured with no results, want %d:\n%s", n, len(Rows), table)
	}
}

// TestParse reads benchmark lines with their -GOMAXPROCS suffix and
// custom metrics, ignores the rest, and keeps the last of repeated lines.
func TestParse(t *testing.T) {
	res, err := Parse(strings.NewReader("goos: linux\nBenchmarkX/a-2   \t 3\t 100 ns/op\t 0.5 ratio\nBenchmarkX/a-2 \t 3\t 100 ns/op\t 0.7 ratio\nPASS\nok x 1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res["BenchmarkX/a"]["ratio"] != 0.7 || res["BenchmarkX/a"]["ns/op"] != 100 {
		t.Errorf("parsed %v", res)
	}
}

func parseFile(t *testing.T, name string) Results {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
