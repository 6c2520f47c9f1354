package policy

import (
	"errors"
	"io/fs"
	"os"
)

// fileReads reads the files a policy is built from — from disk, or from
// the inputs a generation was saved with — and records what it read, so
// that a generation can be saved and rebuilt byte for byte (Inputs,
// LoadInputs). Only the goroutine running Load uses it.
type fileReads struct {
	saved map[string][]byte // nil: read the disk
	read  map[string][]byte
}

func newFileReads(saved map[string][]byte) *fileReads {
	return &fileReads{saved: saved, read: map[string][]byte{}}
}

// readFile reads path and records its content.
func (f *fileReads) readFile(path string) ([]byte, error) {
	var data []byte
	if f.saved == nil {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	} else {
		var ok bool
		if data, ok = f.saved[path]; !ok {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		}
	}
	f.read[path] = data
	return data, nil
}

// missing reports whether nothing is at path (other errors, such as
// permissions, are left for the read to report). Absent files are not
// recorded: a saved generation lacks them just as the disk did.
func (f *fileReads) missing(path string) bool {
	if f.saved != nil {
		_, ok := f.saved[path]
		return !ok
	}
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist)
}

// Inputs are the bytes of every file the policy was built from, by the
// path it was read at: the policy files, and the files they name (API
// keys, JWKS, certificates, private keys, CA bundles). LoadInputs rebuilds
// the same policy, with the same version, from them. They include private
// keys: store them as secrets. The map must not be modified.
func (p *Policy) Inputs() map[string][]byte {
	if p.reads == nil {
		return nil
	}
	return p.reads.read
}

// LoadInputs is LoadFiles over saved inputs (see Inputs) instead of the
// disk: files are the policy files, in merge order, and every file a
// policy names is looked up in inputs by the path it resolves to.
func LoadInputs(files []string, inputs map[string][]byte) (*Policy, error) {
	if inputs == nil {
		inputs = map[string][]byte{}
	}
	return load(files, newFileReads(inputs))
}
