package reloader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newStateReloader is a reloader of dir keeping its state in stateDir,
// with a recording stage.
func newStateReloader(t *testing.T, dir, stateDir string) (*Reloader, *recorder) {
	t.Helper()
	st, err := NewState(stateDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	rl, _ := newReloader(t, dir, rec.stage)
	rl.UseState(st)
	return rl, rec
}

func TestRestartWithAnInvalidPolicyServesTheLastGoodGeneration(t *testing.T) {
	dir, stateDir := t.TempDir(), filepath.Join(t.TempDir(), "state")
	write(t, dir, fourRoutes)
	first, _ := newStateReloader(t, dir, stateDir)
	if err := first.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	goodVersion := first.Current().Policy.Version
	st, _ := NewState(stateDir, dir)
	for path, want := range map[string]os.FileMode{stateDir: 0o700 | os.ModeDir, st.Path(): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, mode %v; want %v", path, err, fi.Mode(), want)
		}
	}

	want := map[string]string{"invalid": "unknown service", "empty": "no listeners", "routes removed": "removes 4 of the 4"}
	for name, broken := range map[string]string{
		"invalid":        strings.Replace(fourRoutes, "to: a", "to: missing", 1),
		"empty":          "",
		"routes removed": good,
	} {
		t.Run(name, func(t *testing.T) {
			write(t, dir, broken)
			rl, rec := newStateReloader(t, dir, stateDir)
			if err := rl.Reload(t.Context()); err == nil || !strings.Contains(err.Error(), want[name]) {
				t.Fatalf("the broken policy gave %v, want an error with %q", err, want[name])
			}
			g := rl.Current()
			if g == nil || g.Policy.Version != goodVersion || g.RestoredFrom != st.Path() || len(rec.committed) != 1 || rec.committed[0] != goodVersion {
				t.Fatalf("after a restart with a broken policy: serving %+v, committed %v; want %s restored from %s", g, rec.committed, goodVersion, st.Path())
			}
			if s := rl.Status(); !strings.Contains(s, "serving the last good generation from "+st.Path()) || !strings.Contains(s, "last reload refused") {
				t.Errorf("Status does not say the last good generation is restored:\n%s", s)
			}
		})
	}

	// Fixing the directory applies it, and it becomes the saved generation.
	write(t, dir, fourRoutes+"# fixed\n")
	rl, _ := newStateReloader(t, dir, stateDir)
	write(t, dir, "")
	_ = rl.Reload(t.Context())
	write(t, dir, fourRoutes+"# fixed\n")
	if err := rl.Reload(t.Context()); err != nil || rl.Current().RestoredFrom != "" || rl.LastError() != "" {
		t.Fatalf("the fixed policy: %v", err)
	}
	fixed := rl.Current().Policy.Version
	write(t, dir, "")
	again, _ := newStateReloader(t, dir, stateDir)
	_ = again.Reload(t.Context())
	if g := again.Current(); g == nil || g.Policy.Version != fixed {
		t.Errorf("after the fix, a restart restored %+v, want %s", g, fixed)
	}
}

func TestUnusableSavedGenerationLeavesTollgateNotReady(t *testing.T) {
	dir, other, stateDir := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, dir, good)
	write(t, other, good)
	for _, d := range []string{dir, other} {
		rl, _ := newStateReloader(t, d, stateDir)
		if err := rl.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := NewState(stateDir, dir)
	otherSt, _ := NewState(stateDir, other)
	if st.Path() == otherSt.Path() {
		t.Fatal("two policy directories share a state file")
	}
	saved, err := os.ReadFile(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	otherSaved, _ := os.ReadFile(otherSt.Path())
	for name, content := range map[string][]byte{
		"half written":          saved[:len(saved)/2],
		"another policy's":      otherSaved,
		"a changed input":       []byte(strings.Replace(string(saved), `"version":"`, `"version":"0`, 1)),
		"not a generation":      []byte("{}"),
		"larger than the limit": append(saved, ' '),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(st.Path(), content, 0o600); err != nil {
				t.Fatal(err)
			}
			if name == "larger than the limit" {
				defer func(n int) { maxStateBytes = n }(maxStateBytes)
				maxStateBytes = len(saved)
			}
			write(t, dir, "")
			rl, rec := newStateReloader(t, dir, stateDir)
			if err := rl.Reload(t.Context()); err == nil || rl.Current() != nil || len(rec.committed) != 0 {
				t.Errorf("served %+v (committed %v) from an unusable state file", rl.Current(), rec.committed)
			}
		})
	}
}

func TestStateDirectoryInsideThePolicyDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, stateDir := range []string{dir, filepath.Join(dir, "state"), filepath.Join(dir, ".", "x", "..")} {
		if _, err := NewState(stateDir, dir); err == nil {
			t.Errorf("state directory %s inside policy directory %s was accepted", stateDir, dir)
		}
	}
	if _, err := NewState(filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-state"), dir); err != nil {
		t.Errorf("a sibling directory was refused: %v", err)
	}
}

func TestSavingRemovesTemporaryFilesACrashLeft(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	st, err := NewState(stateDir, dir)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(stateDir, "."+filepath.Base(st.Path())+".tmp-123")
	fresh := old + "4"
	for _, f := range []string{old, fresh} {
		if err := os.WriteFile(f, []byte(`{"format":1`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	write(t, dir, good)
	rl, _ := newStateReloader(t, dir, stateDir)
	if err := rl.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("an hour-old temporary file was left")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh temporary file (another instance's write) was removed")
	}
}

// TestSaveWhenSavesOnlyWhatRolledOut: with a staged rollout, the last good
// generation is the last one that rolled out to every Envoy. A generation
// applied but not (yet, or ever) rolled out is not saved: a restart with
// an invalid policy serves the one before it.
func TestSaveWhenSavesOnlyWhatRolledOut(t *testing.T) {
	dir, stateDir := t.TempDir(), filepath.Join(t.TempDir(), "state")
	saves := map[string]func(){}
	reload := func(content string) string {
		t.Helper()
		write(t, dir, content)
		rl, _ := newStateReloader(t, dir, stateDir)
		rl.SaveWhen(func(version string, save func()) { saves[version] = save })
		if err := rl.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		return rl.Current().Policy.Version
	}
	first := reload(fourRoutes)
	save := saves[first]
	if save == nil {
		t.Fatal("the first generation's save was not handed to the gate")
	}
	save() // rolled out
	second := reload(strings.Replace(fourRoutes, "127.0.0.1:1", "127.0.0.1:2", 1))
	if _, ok := saves[second]; !ok || second == first {
		t.Fatalf("the second generation's save was not handed to the gate: %v", saves)
	}
	// The second never rolls out (rolled back): a restart with a broken
	// policy serves the first.
	write(t, dir, "")
	rl, _ := newStateReloader(t, dir, stateDir)
	if err := rl.Reload(t.Context()); err == nil {
		t.Fatal("the empty policy was accepted")
	}
	if g := rl.Current(); g == nil || g.Policy.Version != first {
		t.Fatalf("after a restart serving %+v, want the rolled-out generation %s", g, first)
	}
}
