package main

import (
	"fmt"
	"strings"
)

// Issue 12's "Figures and targets", one name per row of its table; every
// one must be answered by at least one Row (the test checks it).
const (
	IssueThroughput = "protected route throughput, closed loop"
	IssueLatency    = "added p50 / p99 at half of the protected route's capacity, open loop"
	IssueRedis      = "ShouldRateLimit, Redis store, c16 and c64"
	IssueMemory     = "ShouldRateLimit, memory store"
	IssueCheck      = "Check, API key / cached JWT"
	IssueDelta      = "one-route change to 1,000 delta clients, 10,000 routes"
	IssueHeap       = "control-plane heap"
)

// IssueFigures lists them in the issue's order.
var IssueFigures = []string{IssueThroughput, IssueLatency, IssueRedis, IssueMemory, IssueCheck, IssueDelta, IssueHeap}

// Row is one line of the summary: a figure, how to read it from the
// results, and its target.
type Row struct {
	Figure string
	// Issue is the issue-12 figure the row answers, "" for the others.
	Issue  string
	Target string
	// eval reads the row's cells; ok is false when the benchmark did not
	// run (or reported nothing).
	eval func(r Results) (c Cells, ok bool)
}

// Cells are a row's measured columns; Met is "yes", "no" or "—" (no
// target).
type Cells struct {
	Value, Baseline, Ratio, Met string
}

// met renders a target check.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// num formats a figure with at most three significant decimals.
func num(v float64) string {
	switch {
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// signed formats a difference with its sign: +0.42, -1.50 (a negative
// one is noise: the baseline's quantile moved more than the cost).
func signed(v float64) string {
	if v < 0 {
		return num(v)
	}
	return "+" + num(v)
}

// metrics returns the named metrics of bench, or ok false if any is missing.
func metrics(r Results, bench string, units ...string) ([]float64, bool) {
	out := make([]float64, len(units))
	for i, u := range units {
		v, ok := r.get(bench, u)
		if !ok {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

// Rows are the summary's rows, in order.
var Rows = []Row{
	{Figure: IssueThroughput + " (vegeta, real Envoy)", Issue: IssueThroughput, Target: "≥ 0.6 (stretch 0.75)",
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, "BenchmarkGateway", "protected_rps", "plain_rps", "throughput_ratio")
			if !ok {
				return Cells{}, false
			}
			value := num(m[0]) + " req/s"
			if f, ok := r.get("BenchmarkGateway", "protected_failed"); ok && f > 0 {
				value += fmt.Sprintf(" (%.0f non-200)", f)
			}
			for _, call := range []string{"ext_authz", "ratelimit"} {
				if f, ok := r.get("BenchmarkGateway", call+"_errors"); ok && f > 0 {
					value += fmt.Sprintf(" (%.0f failed %s calls)", f, call)
				}
			}
			return Cells{value, "plain route, same Envoy: " + num(m[1]) + " req/s", num(m[2]), met(m[2] >= 0.6)}, true
		}},
	latencyRow("p50", "≤ +0.3 ms", 0.3),
	latencyRow("p99", "≤ +1 ms", 1),
	rlsRow("ShouldRateLimit, Redis store, c16 (pipelined, one descriptor)", IssueRedis, "BenchmarkRedisPipelining/c16/pipelined", 0.8),
	rlsRow("ShouldRateLimit, Redis store, c64 (pipelined, one descriptor)", IssueRedis, "BenchmarkRedisPipelining/c64/pipelined", 0.8),
	redisCPURow("c16"),
	redisCPURow("c64"),
	rlsRow("ShouldRateLimit, memory store (c32, three descriptors)", IssueMemory, "BenchmarkShouldRateLimit/memory", 0.85),
	checkRow("Check, API key", "BenchmarkCheck/api_key", 0.7),
	checkRow("Check, cached JWT ES256", "BenchmarkCheck/jwt_es256_cached", 0.6),
	checkRow("Check, cached JWT RS256", "BenchmarkCheck/jwt_rs256_cached", 0.6),
	{Figure: IssueDelta, Issue: IssueDelta, Target: "≤ 2 s, ≤ 1.2 × SotW",
		eval: func(r Results) (Cells, bool) {
			d, ok1 := r.get("BenchmarkFanout/delta-10k-routes/1000", "ms/update")
			s, ok2 := r.get("BenchmarkFanout/sotw-10k-routes/1000", "ms/update")
			if !ok1 || !ok2 {
				return Cells{}, false
			}
			return Cells{num(d) + " ms", "SotW, same case: " + num(s) + " ms", num(d / s), met(d <= 2000 && d/s <= 1.2)}, true
		}},
	{Figure: "one-route change to 1,000 SotW clients, 10,000 routes", Target: "≤ 2 s",
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, "BenchmarkFanout/sotw-10k-routes/1000", "ms/update", "x-baseline")
			if !ok {
				return Cells{}, false
			}
			return Cells{num(m[0]) + " ms", "its first 10 clients", num(m[1]), met(m[0] <= 2000)}, true
		}},
	heapRoutesRow("sotw"),
	heapRoutesRow("delta"),
	heapEnvoyRow("sotw", "200"),
	heapEnvoyRow("delta", "200"),
	heapEnvoyRow("sotw", "10k"),
	heapEnvoyRow("delta", "10k"),
	translateRow("Translate10kRoutes1kServices", "translate 10,000 routes, 1,000 services"),
	translateRow("Snapshot10kRoutes1kServices", "translate + marshal + version, 10,000 routes"),
}

// latencyRow is the open loop's added latency at quantile q.
func latencyRow(q, target string, limit float64) Row {
	return Row{Figure: "added " + q + " at half the protected route's capacity, open loop", Issue: IssueLatency, Target: target,
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, "BenchmarkGateway", "added_"+q+"_ms", "plain_"+q+"_ms", "open_rate_rps")
			if !ok {
				return Cells{}, false
			}
			return Cells{fmt.Sprintf("%s ms at %s req/s", signed(m[0]), num(m[2])), "plain route: " + num(m[1]) + " ms", "—", met(m[0] <= limit)}, true
		}}
}

// rlsRow is a ShouldRateLimit figure against the no-op server.
func rlsRow(figure, issue, bench string, limit float64) Row {
	return Row{Figure: figure, Issue: issue, Target: fmt.Sprintf("≥ %.2g", limit),
		eval: func(r Results) (Cells, bool) {
			ratio, ok := r.get(bench, "ratio-vs-noop")
			if !ok {
				return Cells{}, false
			}
			value := "ratio quartiles " + quartiles(r, bench)
			base := "no-op RLS server"
			if m, ok := metrics(r, bench, "decisions/s", "noop-decisions/s"); ok {
				value, base = num(m[0])+" decisions/s", base+": "+num(m[1])+"/s"
			}
			if trips, ok := r.get(bench, "redis-round-trips/decision"); ok {
				value += fmt.Sprintf(", %.3f Redis round trips/decision", trips)
			}
			return Cells{value, base, num(ratio), met(ratio >= limit)}, true
		}}
}

// redisCPURow is what a Redis decision costs in CPU, the process's and
// redis-server's, against the no-op server's; its ratio is the throughput
// ratio the cores allow when saturated (no target: it explains the row
// above).
func redisCPURow(c string) Row {
	return Row{Figure: "ShouldRateLimit, Redis store, " + c + ": CPU per decision", Target: "—",
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, "BenchmarkRedisCPU/"+c, "go-cpu-µs", "redis-cpu-µs", "noop-go-cpu-µs", "cpu-bound-ratio")
			if !ok {
				return Cells{}, false
			}
			return Cells{"Go " + num(m[0]) + " µs + redis-server " + num(m[1]) + " µs", "no-op RLS server: " + num(m[2]) + " µs", num(m[3]), "—"}, true
		}}
}

func quartiles(r Results, bench string) string {
	m, ok := metrics(r, bench, "ratio-q1", "ratio-q3")
	if !ok {
		return "—"
	}
	return num(m[0]) + "–" + num(m[1])
}

// checkRow is a Check figure against the no-op ext_authz server.
func checkRow(figure, bench string, limit float64) Row {
	return Row{Figure: figure, Issue: IssueCheck, Target: fmt.Sprintf("≥ %.2g (kept)", limit),
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, bench, "checks/s", "noop-checks/s", "ratio")
			if !ok {
				return Cells{}, false
			}
			return Cells{num(m[0]) + " checks/s", "no-op ext_authz: " + num(m[1]) + "/s", num(m[2]), met(m[2] >= limit)}, true
		}}
}

// heapRoutesRow is the control plane's live heap per 1,000 routes.
func heapRoutesRow(proto string) Row {
	return Row{Figure: "control-plane heap per 1,000 routes (" + proto + ")", Issue: IssueHeap, Target: "≤ 25 MiB",
		eval: func(r Results) (Cells, bool) {
			v, ok := r.get("BenchmarkControlPlaneHeap/"+proto+"/10k-routes", "MiB/1k-routes")
			if !ok {
				return Cells{}, false
			}
			return Cells{num(v) + " MiB", "—", "—", met(v <= 25)}, true
		}}
}

// heapEnvoyRow is the control plane's live heap per connected Envoy.
func heapEnvoyRow(proto, routes string) Row {
	size := map[string]string{"200": "200 routes, 50 services", "10k": "10,000 routes, 1,000 services"}[routes]
	return Row{Figure: "control-plane heap per connected Envoy (" + proto + ", " + size + ")", Issue: IssueHeap, Target: "≤ 150 KiB",
		eval: func(r Results) (Cells, bool) {
			v, ok := r.get("BenchmarkControlPlaneHeap/"+proto+"/"+routes+"-routes", "KiB/envoy")
			if !ok {
				return Cells{}, false
			}
			return Cells{num(v) + " KiB", "—", "—", met(v <= 150)}, true
		}}
}

// translateRow is a translation figure, without a target.
func translateRow(bench, figure string) Row {
	return Row{Figure: figure, Target: "—",
		eval: func(r Results) (Cells, bool) {
			m, ok := metrics(r, "Benchmark"+bench, "ns/op", "allocs/op", "B/op")
			if !ok {
				return Cells{}, false
			}
			return Cells{fmt.Sprintf("%s ms, %sk allocs, %s MB", num(m[0]/1e6), num(m[1]/1e3), num(m[2]/1e6)), "—", "—", "—"}, true
		}}
}

// Render writes the summary as a markdown table. A row whose benchmark
// did not run says so.
func Render(r Results) string {
	var b strings.Builder
	b.WriteString("| figure | value | baseline | ratio | target | met? |\n|---|---|---|---|---|---|\n")
	for _, row := range Rows {
		c, ok := row.eval(r)
		if !ok {
			c = Cells{"not measured", "—", "—", "—"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", row.Figure, c.Value, c.Baseline, c.Ratio, row.Target, c.Met)
	}
	return b.String()
}
