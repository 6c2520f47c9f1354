package authz

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/internal/atomicfile"
)

// KeysFile is the keys file `tollgate keys` writes and the policy's
// auth.api_keys.file names. It holds hashes only: a leaked keys file
// grants nothing.
type KeysFile struct {
	Keys []*KeyRecord `yaml:"keys"`
}

// KeyRecord is one API key: what it may do and the hashes of its secrets.
type KeyRecord struct {
	ID       string     `yaml:"id"`
	Tier     string     `yaml:"tier,omitempty"`
	Scopes   []string   `yaml:"scopes,omitempty"`
	Services []string   `yaml:"services,omitempty"` // empty: every service
	Created  time.Time  `yaml:"created"`
	Expires  *time.Time `yaml:"expires,omitempty"`
	Revoked  *time.Time `yaml:"revoked,omitempty"`
	// Secrets holds one hash per valid secret: two during a rotation's
	// overlap, when the old one has an expiry.
	Secrets []*KeySecret `yaml:"secrets"`
}

// KeySecret is the hash of one secret of a key.
type KeySecret struct {
	SHA256  string     `yaml:"sha256"`
	Created time.Time  `yaml:"created"`
	Expires *time.Time `yaml:"expires,omitempty"`
}

// Status is a key's state at a time: active, expired or revoked.
func (k *KeyRecord) Status(now time.Time) string {
	switch {
	case k.Revoked != nil && !now.Before(*k.Revoked):
		return "revoked"
	case k.Expires != nil && !now.Before(*k.Expires):
		return "expired"
	}
	return "active"
}

// ParseKeysFile decodes a keys file strictly and checks every record;
// errors carry file:line.
func ParseKeysFile(file string, data []byte) (*KeysFile, error) {
	var kf KeysFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&kf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	lines := recordLines(data)
	var errs []error
	seen := map[string]bool{}
	for i, k := range kf.Keys {
		at := fmt.Sprintf("%s:%d: keys[%d]", file, lineOf(lines, i), i)
		if k == nil {
			errs = append(errs, fmt.Errorf("%s: empty key record", at))
			continue
		}
		if err := checkRecord(k, seen); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &kf, nil
}

func checkRecord(k *KeyRecord, seen map[string]bool) error {
	switch {
	case !ValidKeyID(k.ID):
		return fmt.Errorf("id %q: use lower-case letters, digits and '-' (at most 63)", k.ID)
	case seen[k.ID]:
		return fmt.Errorf("id %q is repeated", k.ID)
	case len(k.Secrets) == 0:
		return fmt.Errorf("key %q has no secrets", k.ID)
	}
	seen[k.ID] = true
	for _, s := range k.Secrets {
		if s == nil {
			return fmt.Errorf("key %q: empty secret", k.ID)
		}
		if _, ok := parseDigest(s.SHA256); !ok {
			// Most likely a plaintext key pasted by hand: say so, but
			// never repeat the value.
			return fmt.Errorf("key %q: sha256 must be 64 hex digits (the file holds hashes, never keys)", k.ID)
		}
	}
	return nil
}

// recordLines finds the line of each item of the keys list, for errors.
func recordLines(data []byte) []int {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value == "keys" {
			var out []int
			for _, item := range doc.Content[i+1].Content {
				out = append(out, item.Line)
			}
			return out
		}
	}
	return nil
}

func lineOf(lines []int, i int) int {
	if i < len(lines) {
		return lines[i]
	}
	return 1
}

// Find returns the record with the given id, or nil.
func (kf *KeysFile) Find(id string) *KeyRecord {
	i := slices.IndexFunc(kf.Keys, func(k *KeyRecord) bool { return k.ID == id })
	if i < 0 {
		return nil
	}
	return kf.Keys[i]
}

// ReadKeysFile reads a keys file; a missing file is an empty one, so that
// `tollgate keys new` can create it.
func ReadKeysFile(path string) (*KeysFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &KeysFile{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseKeysFile(path, data)
}

const keysFileHeader = "# API keys, written by `tollgate keys`. Hashes only: this file grants nothing if it leaks.\n"

// WriteKeysFile replaces the file atomically (write, then rename), so a
// watching Tollgate never reads half of it.
func WriteKeysFile(path string, kf *KeysFile) error {
	slices.SortFunc(kf.Keys, func(a, b *KeyRecord) int { return strings.Compare(a.ID, b.ID) })
	body, err := yaml.Marshal(kf)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append([]byte(keysFileHeader), body...), 0o600, 0o755)
}
