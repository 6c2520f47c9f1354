package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/internal/reloader"
)

// operationsDoc is where the flag and metric tables live.
const operationsDoc = "../../docs/operations.md"

// docTable returns the first cell of every row of the Markdown table in
// docs/operations.md whose header row is header (e.g. "| flag | default |
// meaning |"), with the row's other cells.
func docTable(t *testing.T, header string) [][]string {
	t.Helper()
	b, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	i := slices.Index(lines, header)
	if i < 0 {
		t.Fatalf("%s has no table with the header %q", operationsDoc, header)
	}
	var rows [][]string
	for _, line := range lines[i+2:] { // skip the header and |---|
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		rows = append(rows, cells)
	}
	if len(rows) == 0 {
		t.Fatalf("%s: the table %q has no rows", operationsDoc, header)
	}
	return rows
}

// backticked returns the `code` spans of a table cell.
func backticked(cell string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// serveFlags is serve's flag set, as `tollgate serve -h` prints it.
func serveFlags(t *testing.T) *flag.FlagSet {
	t.Helper()
	_, err := parseServe([]string{"-h"}, io.Discard)
	var help helpRequest
	if !errors.As(err, &help) {
		t.Fatalf("serve -h: %v, want a help request", err)
	}
	return help.fs
}

// The flag table of docs/operations.md has one row per flag of `tollgate
// serve`, and each row's default is the flag's when the flag has one.
func TestFlagTableMatchesServe(t *testing.T) {
	fs := serveFlags(t)
	documented := map[string][]string{} // flag -> the default cell's code spans
	for _, row := range docTable(t, "| flag | default | meaning |") {
		m := regexp.MustCompile("^`--([a-z0-9-]+)[ `]").FindStringSubmatch(row[0])
		if m == nil || len(row) != 3 {
			t.Errorf("flag table row %q: want | `--flag` | default | meaning |", row)
			continue
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("flag table: --%s has two rows", m[1])
		}
		documented[m[1]] = backticked(row[1])
		if fs.Lookup(m[1]) == nil {
			t.Errorf("flag table: --%s is not a flag of tollgate serve", m[1])
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		defaults, ok := documented[f.Name]
		switch {
		case !ok:
			t.Errorf("tollgate serve --%s has no row in the flag table of docs/operations.md", f.Name)
		case !documentsDefault(defaults, f.DefValue):
			t.Errorf("flag table: --%s defaults to %q, the row says %q", f.Name, f.DefValue, defaults)
		}
	})
}

// documentsDefault says whether one of a default cell's code spans is
// def. A flag without a default of its own ("", or a zero duration that
// means "the policy's") is described in words and not compared.
func documentsDefault(spans []string, def string) bool {
	if def == "" || def == "0s" {
		return true
	}
	for _, s := range spans {
		if strings.EqualFold(s, def) {
			return true
		}
		d1, err1 := time.ParseDuration(s)
		d2, err2 := time.ParseDuration(def)
		if err1 == nil && err2 == nil && d1 == d2 {
			return true
		}
	}
	return false
}

// recordingRegisterer remembers every collector registered through it, so
// that a test can list the metrics they describe, observed or not (a
// vector without a label value yet is absent from /metrics but is still
// what the binary exposes once it has one).
type recordingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// descRE reads a Desc's name and variable labels from its String(), the
// only place client_golang exposes them (a constrained label is "c(name)").
var descRE = regexp.MustCompile(`fqName: "([^"]*)".*variableLabels: \{([^}]*)\}`)

// described maps each metric the collectors describe to its sorted
// variable labels.
func described(t *testing.T, cs []prometheus.Collector) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range cs {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			var labels []string
			for l := range strings.SplitSeq(m[2], ",") {
				if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
					labels = append(labels, l)
				}
			}
			slices.Sort(labels)
			out[m[1]] = labels
		}
	}
	return out
}

// serveMetrics builds every component as `tollgate serve` does, with the
// reloader, and returns the tollgate_* metrics they register: these are
// the only two places runServe hands its registry to (the Go and process
// collectors it adds export go_* and process_*).
func serveMetrics(t *testing.T) map[string][]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := parseServe([]string{"--policy", t.TempDir(), "--state-dir", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := &recordingRegisterer{Registerer: prometheus.NewRegistry()}
	comps, err := buildComponents(ctx, c, log, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for _, comp := range comps {
			if comp.stop != nil {
				comp.stop()
			}
		}
	})
	reloader.New(c.policyDir, log, rec)
	newHandshakeFailures(rec) // registered by runServe itself
	newBuildInfo(rec)         // so is this
	out := map[string][]string{}
	for name, labels := range described(t, rec.collectors) {
		if strings.HasPrefix(name, "tollgate_") {
			out[name] = labels
		}
	}
	if len(out) < 10 {
		t.Fatalf("the components register only %d tollgate_* metrics: %v", len(out), out)
	}
	return out
}

// metricRowRE reads a metric of the table's first cell: `name` or
// `name{label,label}`.
var metricRowRE = regexp.MustCompile(`^(tollgate_[a-z0-9_]+)(?:\{([a-z0-9_,]*)\})?$`)

// The metrics table of docs/operations.md lists every tollgate_* metric
// `tollgate serve` registers, with its labels, and nothing else.
func TestMetricsTableMatchesTheRegistry(t *testing.T) {
	registered := serveMetrics(t)
	documented := map[string]bool{}
	for _, row := range docTable(t, "| metric | source | meaning |") {
		for _, span := range backticked(row[0]) {
			if !strings.HasPrefix(span, "tollgate_") {
				continue // Envoy's metrics
			}
			m := metricRowRE.FindStringSubmatch(span)
			if m == nil {
				t.Errorf("metrics table: cannot read %q; want `name` or `name{label,...}`", span)
				continue
			}
			name, labels := m[1], strings.Split(m[2], ",")
			if m[2] == "" {
				labels = nil
			}
			slices.Sort(labels)
			if documented[name] {
				t.Errorf("metrics table: %s has two rows", name)
			}
			documented[name] = true
			want, ok := registered[name]
			switch {
			case !ok:
				t.Errorf("metrics table: %s is not a metric tollgate serve registers", name)
			case !slices.Equal(labels, want):
				t.Errorf("metrics table: %s has labels %v, the row says %v", name, want, labels)
			}
		}
	}
	for name, labels := range registered {
		if !documented[name] {
			t.Errorf("%s (labels %v) has no row in the metrics table of docs/operations.md", name, labels)
		}
	}
}

// The README's policy example is valid as it stands, as the README says:
// `tollgate validate` accepts it.
func TestReadmePolicyExampleValidates(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n```yaml\n")
	example, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatal("README.md has no ```yaml block")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(example+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if err := validate([]string{dir}, io.Discard, &stderr); err != nil {
		t.Errorf("tollgate validate refuses the README's example: %v\n%s", err, stderr.String())
	}
}
