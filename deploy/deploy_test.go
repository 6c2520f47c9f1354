package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// metricRE finds metric names in PromQL and in docs/operations.md.
var metricRE = regexp.MustCompile(`\b(?:envoy|tollgate)_[a-z0-9_]+`)

// documentedMetrics are the metric names of docs/operations.md's tables: rows
// whose first cell starts with a quoted metric name.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if cell, ok := strings.CutPrefix(line, "| `"); ok {
			if m := metricRE.FindString(cell); m != "" && strings.HasPrefix(cell, m) {
				out[m] = true
			}
		}
	}
	return out
}

// labelRE finds the parts of a query that name labels, not metrics:
// matchers, grouping clauses, and label_values' second argument.
var labelRE = regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)|,\s*[a-z_]+\)`)

// metricNames are the metric names a PromQL query reads.
func metricNames(expr string) []string {
	return metricRE.FindAllString(labelRE.ReplaceAllString(expr, " "), -1)
}

// baseName strips the series suffixes of a histogram.
func baseName(m string) string {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if b, ok := strings.CutSuffix(m, suffix); ok {
			return b
		}
	}
	return m
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("grafana/tollgate-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

func TestDashboardQueriesOnlyDocumentedMetrics(t *testing.T) {
	d := loadDashboard(t)
	documented := documentedMetrics(t)
	if len(documented) < 10 {
		t.Fatalf("found only %d documented metrics in docs/operations.md: %v", len(documented), documented)
	}
	var exprs []string
	for _, v := range d.Templating.List {
		exprs = append(exprs, v.Definition)
	}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %q", p.Title, tg.Expr)
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	seen := 0
	for _, e := range exprs {
		for _, m := range metricNames(e) {
			seen++
			if !documented[baseName(m)] && !documented[m] {
				t.Errorf("the dashboard queries %s, which docs/operations.md does not document", m)
			}
		}
	}
	if seen == 0 {
		t.Error("no metric found in the dashboard's queries")
	}
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`sum by (envoy_route) (rate(envoy_vhost_route_upstream_rq_xx{envoy_route=~"$route",envoy_response_code_class="5"}[5m])) / label_values(tollgate_x_total, envoy_cluster_name)`)
	if strings.Join(got, " ") != "envoy_vhost_route_upstream_rq_xx tollgate_x_total" {
		t.Errorf("metricNames = %v", got)
	}
}

func TestDashboardCoversTheIssue(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a title and a uid")
	}
	var titles []string
	for _, p := range d.Panels {
		titles = append(titles, strings.ToLower(p.Title))
	}
	all := strings.Join(titles, "\n")
	for _, want := range []string{"request rate per service", "request rate per route", "error rate", "latency percentiles per service",
		"latency percentiles per route", "rate-limit hits", "auth denials", "degraded mode", "config pushes"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel about %q in %v", want, titles)
		}
	}
}

func TestPrometheusScrapesEnvoyAndTollgate(t *testing.T) {
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, s := range cfg.ScrapeConfigs {
		if len(s.StaticConfigs) == 0 || len(s.StaticConfigs[0].Targets) == 0 {
			t.Errorf("job %s has no target", s.JobName)
		}
		paths[s.JobName] = s.MetricsPath
	}
	want := map[string]string{"envoy": "/stats/prometheus", "tollgate": "/metrics"}
	for job, path := range want {
		if paths[job] != path {
			t.Errorf("job %s scrapes %q, want %q", job, paths[job], path)
		}
	}
	if len(paths) != 2 {
		t.Errorf("jobs = %v, want envoy and tollgate only", paths)
	}
}
