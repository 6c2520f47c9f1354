package reloader

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/policy"
)

const good = "listeners: [{ name: l, port: 8080 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\nroutes: [{ name: r, to: a }]\n"

func write(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recorder is a stage that records committed versions and can be told to
// refuse a generation.
type recorder struct {
	committed []string
	refuse    bool
}

func (r *recorder) stage(p *policy.Policy) (func(), error) {
	if r.refuse {
		return nil, errors.New("refused")
	}
	return func() { r.committed = append(r.committed, p.Version) }, nil
}

func newReloader(t *testing.T, dir string, stages ...Stage) (*Reloader, *prometheus.Registry) {
	reg := prometheus.NewRegistry()
	return New(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), reg, stages...), reg
}

func TestBadPolicyKeepsTheLastGood(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, good)
	rec := &recorder{}
	rl, _ := newReloader(t, dir, rec.stage)
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	first := rl.Current().Policy.Version

	write(t, dir, strings.Replace(good, "to: a", "to: missing", 1))
	if err := rl.Reload(); err == nil {
		t.Fatal("an invalid policy was accepted")
	}
	if got := rl.Current().Policy.Version; got != first {
		t.Errorf("serving %s after a rejected load, want %s", got, first)
	}
	if !strings.Contains(rl.LastError(), `unknown service "missing"`) {
		t.Errorf("LastError = %q", rl.LastError())
	}
	if len(rec.committed) != 1 {
		t.Errorf("committed %v, want only the first generation", rec.committed)
	}
}

func TestAStageRefusalCommitsNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, good)
	a, b := &recorder{}, &recorder{}
	rl, reg := newReloader(t, dir, a.stage, b.stage)
	if err := rl.Reload(); err != nil {
		t.Fatal(err)
	}
	write(t, dir, good+"# changed\n")
	b.refuse = true
	if err := rl.Reload(); err == nil {
		t.Fatal("a refused generation was reported as applied")
	}
	if len(a.committed) != 1 || len(b.committed) != 1 {
		t.Errorf("committed a=%v b=%v: a stage's refusal must keep every stage on the old generation", a.committed, b.committed)
	}
	if got := counter(t, reg, "rejected"); got != 1 {
		t.Errorf("rejected reloads = %v, want 1", got)
	}
}

func TestUnchangedPolicyIsNotReapplied(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, good)
	rec := &recorder{}
	rl, _ := newReloader(t, dir, rec.stage)
	for range 3 {
		if err := rl.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.committed) != 1 {
		t.Errorf("committed %d times, want once for unchanged content", len(rec.committed))
	}
}

// counter reads tollgate_policy_reloads_total for a result.
func counter(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tollgate_policy_reloads_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}
