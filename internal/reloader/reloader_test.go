package reloader

import (
	"context"
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

func (r *recorder) stage(_ context.Context, p *policy.Policy) (func(), error) {
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
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := rl.Current().Policy.Version

	write(t, dir, strings.Replace(good, "to: a", "to: missing", 1))
	if err := rl.Reload(t.Context()); err == nil {
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
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, dir, good+"# changed\n")
	b.refuse = true
	if err := rl.Reload(t.Context()); err == nil {
		t.Fatal("a refused generation was reported as applied")
	}
	if len(a.committed) != 1 || len(b.committed) != 1 {
		t.Errorf("committed a=%v b=%v: a stage's refusal must keep every stage on the old generation", a.committed, b.committed)
	}
	if got := counter(t, reg, "rejected"); got != 1 {
		t.Errorf("rejected reloads = %v, want 1", got)
	}
}

// A reload whose context ends (serve stopping) commits nothing in any
// stage, whether the stage that was running returns the context's error
// or ignores the context, and is no refusal: nothing is recorded and the
// serving generation stays.
func TestACancelledReloadCommitsNothing(t *testing.T) {
	for name, stageSeesCtx := range map[string]bool{"the stage returns ctx's error": true, "the stage ignores ctx": false} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, good)
			a := &recorder{}
			// last cancels the reload while it compiles, as a SIGTERM
			// during a slow JWKS fetch does.
			var cancel context.CancelFunc
			last := func(ctx context.Context, p *policy.Policy) (func(), error) {
				if cancel != nil {
					cancel()
					if stageSeesCtx {
						<-ctx.Done()
						return nil, ctx.Err()
					}
				}
				return func() { a.committed = append(a.committed, "last:"+p.Version) }, nil
			}
			rl, reg := newReloader(t, dir, a.stage, last)
			if err := rl.Reload(t.Context()); err != nil {
				t.Fatal(err)
			}
			first := rl.Current()
			write(t, dir, good+"# changed\n")
			var ctx context.Context
			ctx, cancel = context.WithCancel(t.Context())
			if err := rl.Reload(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("a cancelled reload returned %v, want context.Canceled", err)
			}
			if len(a.committed) != 2 || rl.Current() != first {
				t.Errorf("a cancelled reload committed: %v", a.committed)
			}
			if rl.LastError() != "" || counter(t, reg, "rejected") > 0 {
				t.Errorf("a cancelled reload was recorded as a refusal: %q", rl.LastError())
			}
			// The next reload applies the edit.
			cancel = nil
			if err := rl.Reload(t.Context()); err != nil || rl.Current() == first {
				t.Errorf("the reload after a cancelled one: %v", err)
			}
		})
	}
}

func TestUnchangedPolicyIsNotReapplied(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, good)
	rec := &recorder{}
	rl, _ := newReloader(t, dir, rec.stage)
	for range 3 {
		if err := rl.Reload(t.Context()); err != nil {
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

// fourRoutes is good with four routes, enough for the route guard.
const fourRoutes = "listeners: [{ name: l, port: 8080 }]\nservices: { a: { endpoints: [127.0.0.1:1] } }\n" +
	"routes: [{ name: r1, to: a }, { name: r2, to: a }, { name: r3, to: a }, { name: r4, to: a }]\n"

func TestEmptyPolicyIsRefusedAndTheLastGoodKeepsServing(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, fourRoutes)
	rec := &recorder{}
	rl, reg := newReloader(t, dir, rec.stage)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	first := rl.Current().Policy.Version

	write(t, dir, "")
	err := rl.Reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), "allow_no_listeners: true") {
		t.Fatalf("an empty policy gave %v, want a refusal saying how to apply it on purpose", err)
	}
	if got := rl.Current().Policy.Version; got != first || len(rec.committed) != 1 {
		t.Errorf("serving %s (committed %v) after an empty policy, want only %s", got, rec.committed, first)
	}
	for sample, want := range map[string]float64{
		`tollgate_policy_reload_rejections_total{reason="no_listeners"}`: 1,
		`tollgate_policy_reloads_total{result="rejected"}`:               1,
		`tollgate_policy_last_reload_successful`:                         0,
		`tollgate_policy_serving_listeners`:                              1,
		`tollgate_policy_serving_routes`:                                 4,
	} {
		if got := sampleValue(t, reg, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if s := rl.Status(); !strings.Contains(s, "serving policy version "+first+" (1 listeners, 4 routes)") || !strings.Contains(s, "last reload refused at") {
		t.Errorf("Status does not say what serves and that the last reload was refused:\n%s", s)
	}

	write(t, dir, fourRoutes+"# edited\n")
	if err := rl.Reload(t.Context()); err != nil || rl.Status() != strings.SplitAfter(rl.Status(), "\n")[0] {
		t.Errorf("a good edit after a refusal: %v; status %q must no longer name the refusal", err, rl.Status())
	}
}

func TestRemovingMostRoutesIsRefusedUnlessThePolicySaysSo(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, fourRoutes)
	rec := &recorder{}
	rl, reg := newReloader(t, dir, rec.stage)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, dir, good)
	if err := rl.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), "max_removed_routes_percent: 100") {
		t.Fatalf("removing 4 of 4 routes gave %v, want a refusal", err)
	}
	if got := sampleValue(t, reg, `tollgate_policy_reload_rejections_total{reason="routes_removed"}`); got != 1 {
		t.Errorf("routes_removed rejections = %v, want 1", got)
	}
	write(t, dir, good+"reload_guard: { max_removed_routes_percent: 100 }\n")
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatalf("removing routes on purpose: %v", err)
	}
	if got := sampleValue(t, reg, `tollgate_policy_serving_routes`); got != 1 || len(rec.committed) != 2 {
		t.Errorf("serving_routes = %v, committed %v: the edit made on purpose must apply", got, rec.committed)
	}
}

func TestEmptyFirstPolicyIsNotReady(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "")
	rl, _ := newReloader(t, dir)
	if err := rl.Reload(t.Context()); err == nil || rl.Current() != nil {
		t.Fatalf("an empty first policy was applied (err %v)", err)
	}
}

// sampleValue reads one sample, written as in the exposition format
// (`name{label="value"}`), from reg; -1 when absent.
func sampleValue(t *testing.T, reg *prometheus.Registry, sample string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				var parts []string
				for _, l := range ls {
					parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
				}
				name += "{" + strings.Join(parts, ",") + "}"
			}
			if name != sample {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestRevertingARefusedEditClearsTheRefusal(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, good)
	rl, reg := newReloader(t, dir)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "")
	if err := rl.Reload(t.Context()); err == nil {
		t.Fatal("an empty policy was applied")
	}
	write(t, dir, good)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rl.LastError() != "" || sampleValue(t, reg, "tollgate_policy_last_reload_successful") != 1 {
		t.Errorf("after reverting a refused edit: LastError %q, last_reload_successful %v; want none pending",
			rl.LastError(), sampleValue(t, reg, "tollgate_policy_last_reload_successful"))
	}
}
