package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Git revisions are read with the git command (rev-parse, archive) rather
// than a Go implementation of git: the user's git already knows their
// repository's configuration (worktrees, alternates, partial clones), and
// go-git would add a large dependency for two calls.

// gitPolicyDir writes the policy directory dir as it is at revision rev
// into a new temporary directory under tmp, and returns it. dir must be
// inside a git work tree; rev is anything git rev-parse reads (HEAD~1, a
// tag, a commit).
func gitPolicyDir(dir, rev, tmp string) (string, error) {
	if strings.HasPrefix(rev, "-") {
		// git would read it as an option (archive --output=...).
		return "", fmt.Errorf("%s is neither a directory nor a git revision", rev)
	}
	prefix, err := gitOutput(dir, "rev-parse", "--show-prefix")
	if err != nil {
		return "", fmt.Errorf("%s is neither a directory nor a git revision (%s is not in a git work tree: %v)", rev, dir, err)
	}
	if _, err := gitOutput(dir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}"); err != nil {
		return "", fmt.Errorf("%s is neither a directory nor a git revision", rev)
	}
	top, err := gitOutput(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", err
	}
	tree := rev + ":" + strings.TrimSuffix(prefix, "/")
	// The arguments are the user's own revision and directory, checked
	// above not to start with "-": git runs them as a shell would, no more.
	cmd := exec.Command("git", "-C", top, "archive", "--format=tar", tree) //nolint:gosec // G702: see above
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	archive, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git archive %s: %v: %s", tree, err, strings.TrimSpace(stderr.String()))
	}
	out, err := os.MkdirTemp(tmp, "rev-")
	if err != nil {
		return "", err
	}
	return out, untar(bytes.NewReader(archive), out)
}

// gitOutput runs git in dir and returns its trimmed standard output.
func gitOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...) //nolint:gosec // G702: fixed subcommands; the revision is checked by gitPolicyDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", errors.New(msg)
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// untar extracts a git archive into dir: directories, regular files and
// symbolic links (a policy directory may hold them), nothing outside dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("git archive: unexpected path %q", h.Name)
		}
		if err := extract(tr, h, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
}

func extract(tr *tar.Reader, h *tar.Header, path string) error {
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(path, 0o755)
	case tar.TypeSymlink:
		return os.Symlink(h.Linkname, path)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	default:
		return nil // git archive writes a pax header first; nothing else
	}
}
