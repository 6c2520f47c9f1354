package reloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate/tollgate/internal/atomicfile"
	"github.com/tollgate/tollgate/policy"
)

// maxStateBytes bounds a saved generation (64 MiB; a variable for tests).
// A policy with its keys and certificates is far smaller; a larger one is
// not saved (and a larger file is not read), so a runaway file never
// fills the disk or the heap.
var maxStateBytes = 64 << 20

// stateFormat is the version of the saved bundle's layout.
const stateFormat = 1

// State keeps the last good generation of one policy directory on disk,
// so that a Tollgate restarted while the directory is invalid serves
// what it served before (authz rules, limits and xDS alike) instead of
// nothing. The file holds every input of the generation — policy files,
// API key hashes, private keys — so it is written 0600 in a 0700
// directory, atomically (temporary file, fsync, rename): a crash
// mid-write leaves the previous file whole.
type State struct {
	path      string
	policyDir string // absolute
}

// bundle is the saved form of a generation: the bytes of every file it
// was built from, by the path it was read at, so that policy.LoadInputs
// rebuilds it with the same version (Envoy receives no new push).
type bundle struct {
	Format    int               `json:"format"`
	PolicyDir string            `json:"policy_dir"`
	Version   string            `json:"version"`
	SavedAt   time.Time         `json:"saved_at"`
	Files     []string          `json:"files"`
	Inputs    map[string][]byte `json:"inputs"`
}

// NewState keeps policyDir's last good generation in stateDir, in a file
// named after a hash of policyDir's absolute path, so that instances
// serving different policy directories never overwrite each other's. The
// state directory must not be inside the policy directory, where writing
// would trigger reloads.
func NewState(stateDir, policyDir string) (*State, error) {
	absPolicy, err := filepath.Abs(policyDir)
	if err != nil {
		return nil, err
	}
	absState, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	if within(resolve(absState), resolve(absPolicy)) {
		return nil, fmt.Errorf("state directory %s is inside the policy directory %s, where writing it would reload the policy: choose another --state-dir", stateDir, policyDir)
	}
	sum := sha256.Sum256([]byte(absPolicy))
	name := "last-good-" + hex.EncodeToString(sum[:8]) + ".json"
	return &State{path: filepath.Join(absState, name), policyDir: absPolicy}, nil
}

// resolve follows symbolic links as far as the path exists.
func resolve(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	return path
}

func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Path is the file the generation is kept in.
func (s *State) Path() string { return s.path }

// Save writes p as the last good generation, replacing the previous one
// atomically.
func (s *State) Save(p *policy.Policy) error {
	data, err := json.Marshal(bundle{
		Format: stateFormat, PolicyDir: s.policyDir, Version: p.Version,
		SavedAt: time.Now().UTC(), Files: p.Files, Inputs: p.Inputs(),
	})
	if err != nil {
		return err
	}
	if len(data) > maxStateBytes {
		return fmt.Errorf("the generation takes %d bytes, more than the %d a saved generation may", len(data), maxStateBytes)
	}
	removeStaleTemps(s.path)
	return atomicfile.Write(s.path, data, 0o600, 0o700)
}

// removeStaleTemps removes the temporary files a crash mid-write left
// beside path. Only old ones: a fresh one may be another instance's
// write in progress.
func removeStaleTemps(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), atomicfile.TempPattern(path)))
	for _, f := range stale {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) > time.Minute {
			_ = os.Remove(f)
		}
	}
}

// Load rebuilds the saved generation. An error wrapping fs.ErrNotExist
// means none was saved yet.
func (s *State) Load() (*policy.Policy, time.Time, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(maxStateBytes)+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(data) > maxStateBytes {
		return nil, time.Time{}, fmt.Errorf("%s is larger than %d bytes", s.path, maxStateBytes)
	}
	var b bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, time.Time{}, fmt.Errorf("%s is corrupt: %w", s.path, err)
	}
	switch {
	case b.Format != stateFormat:
		return nil, time.Time{}, fmt.Errorf("%s has format %d, want %d", s.path, b.Format, stateFormat)
	case b.PolicyDir != s.policyDir:
		return nil, time.Time{}, fmt.Errorf("%s holds the policy of %s, not of %s", s.path, b.PolicyDir, s.policyDir)
	}
	p, err := policy.LoadInputs(b.Files, b.Inputs)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%s does not load: %w", s.path, err)
	}
	if p.Version != b.Version {
		return nil, time.Time{}, errors.New(s.path + " rebuilds version " + p.Version + ", not the saved " + b.Version)
	}
	return p, b.SavedAt, nil
}

// savedGeneration is the generation the previous process saved, read
// once; nil when there is none or it cannot be used (logged).
func (r *Reloader) savedGeneration() *policy.Policy {
	if r.state == nil || r.stateRead {
		return r.saved
	}
	r.stateRead = true
	p, at, err := r.state.Load()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.log.Info("no last good policy generation saved yet", "state", r.state.Path())
	case err != nil:
		r.log.Error("the saved last good policy generation cannot be used", "state", r.state.Path(), "error", err)
	default:
		r.saveMu.Lock()
		r.saved, r.savedAt, r.savedVersion = p, at, p.Version
		r.saveMu.Unlock()
	}
	return r.saved
}

// restore serves the saved generation when the policy directory was
// refused and nothing serves yet (at startup), so that authz rules,
// limits and Envoy's configuration stay those of the last good policy
// until the directory is fixed. The refusal stays recorded: the last
// reload is reported unsuccessful. A cancelled reload restores nothing.
func (r *Reloader) restore(ctx context.Context) {
	if r.current.Load() != nil || ctx.Err() != nil {
		return
	}
	p := r.savedGeneration()
	if p == nil {
		return
	}
	if err := r.apply(ctx, p); err != nil {
		if ctx.Err() != nil {
			return // stopping: not a fault of the saved generation
		}
		r.log.Error("the saved last good policy generation does not compile; not ready", "state", r.state.Path(), "version", p.Version, "error", err)
		return
	}
	r.serve(&Generation{Policy: p, LoadedAt: time.Now(), RestoredFrom: r.state.Path()})
	r.log.Warn("the policy directory was refused: serving the last good generation saved before the restart until it is fixed",
		"dir", r.dir, "state", r.state.Path(), "version", p.Version, "saved_at", r.savedAt, "refused", r.LastError())
}

// save keeps p as the last good generation, unless the state file holds
// it already. Failing to save is logged: p serves all the same.
func (r *Reloader) save(p *policy.Policy) {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	if r.state == nil || p.Version == r.savedVersion {
		return
	}
	if err := r.state.Save(p); err != nil {
		r.log.Error("saving the last good policy generation; a restart with an invalid policy will not be ready", "state", r.state.Path(), "error", err)
		return
	}
	r.savedVersion = p.Version
}
