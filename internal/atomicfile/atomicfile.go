// Package atomicfile replaces files so that a reader, or a restart after a
// crash, sees either the old content or the new, never a part of it: the
// API keys file, key usage times and the last good policy generation are
// all read back by a later Tollgate that must not find them half written.
package atomicfile

import (
	"os"
	"path/filepath"
)

// TempPattern is the os.CreateTemp pattern of the temporary file Write
// uses beside path; a crash between creating and renaming it leaves one
// behind, which callers may clean up (see reloader's removeStaleTemps).
func TempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// Write replaces path with data and the given mode: a temporary file in
// the same directory (created with mode 0600, so secrets are never
// readable by others even for a moment), synced, renamed over path, then
// the directory synced so that the rename itself survives a crash.
// Missing directories are created with dirMode.
func Write(path string, data []byte, mode, dirMode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, nothing is there
	if err := fill(tmp, data, mode); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// fill writes data, sets the mode and flushes the file to disk.
func fill(f *os.File, data []byte, mode os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return f.Sync()
}
