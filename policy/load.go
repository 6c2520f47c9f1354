// Package policy owns Tollgate's user-facing configuration: the YAML policy
// files in a directory, their strict decoding with positions, validation,
// and defaults. The result, a *Policy, is the model every other package
// compiles from; it knows nothing of Envoy.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is the shape of one YAML document of a policy file.
type document struct {
	Listeners []*Listener         `yaml:"listeners"`
	Services  map[string]*Service `yaml:"services"`
	Routes    []*Route            `yaml:"routes"`

	RateLimits     map[string]*RateLimit `yaml:"rate_limits"`
	Tiers          map[string]*Tier      `yaml:"tiers"`
	RateLimitStore *RateLimitStore       `yaml:"rate_limit_store"`
	AccessLog      *AccessLog            `yaml:"access_log"`
	Tracing        *Tracing              `yaml:"tracing"`
	Auth           *Auth                 `yaml:"auth"`
	ReloadGuard    *ReloadGuard          `yaml:"reload_guard"`
	Rollout        *Rollout              `yaml:"rollout"`

	RateLimitHeaders *RateLimitHeaders `yaml:"rate_limit_headers"`
	LimitCalls       *LimitCalls       `yaml:"limit_calls"`
}

// IsPolicyFile reports whether a file name in a policy directory is read as
// policy: YAML files that are not hidden. Subdirectories are not read, so
// certificates and key files can live beside the policy.
func IsPolicyFile(name string) bool {
	base := filepath.Base(name)
	ext := filepath.Ext(base)
	return !strings.HasPrefix(base, ".") && (ext == ".yaml" || ext == ".yml")
}

// Load reads every policy file of dir (see IsPolicyFile) in lexical order,
// merges them, validates the result and applies defaults. On any problem it
// returns Errors listing every one with its file:line:col, and no policy.
func Load(dir string) (*Policy, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		if IsPolicyFile(e.Name()) && isRegularFile(dir, e) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no policy files (*.yaml, *.yml) found", dir)
	}
	return LoadFiles(files)
}

// isRegularFile reports whether e is a regular file, following a
// symlink: a Kubernetes ConfigMap mount holds every file as a symlink
// into its ..data directory, and that is the usual way to deploy a policy.
func isRegularFile(dir string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink == 0 {
		return e.Type().IsRegular()
	}
	info, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && info.Mode().IsRegular()
}

// LoadFiles is Load for an explicit list of files, merged in the order given.
func LoadFiles(files []string) (*Policy, error) {
	return load(files, newFileReads(nil))
}

// load builds a policy from files, reading them and the files they name
// through reads.
func load(files []string, reads *fileReads) (*Policy, error) {
	p, version, err := loadValid(files, reads)
	if err != nil {
		return nil, err
	}
	applyDefaults(p)
	p.Version = version
	p.routing = newRouting(p)
	return p, nil
}

// loadValid is load before defaults: the files decoded, merged and
// validated, and the version of what they were built from.
func loadValid(files []string, reads *fileReads) (*Policy, string, error) {
	p := &Policy{Files: files, Services: map[string]*Service{}, reads: reads}
	var errs Errors
	hash := sha256.New()
	for _, file := range files {
		data, err := reads.readFile(file)
		if err != nil {
			errs.add(Pos{File: file}, "", err.Error())
			continue
		}
		fmt.Fprintf(hash, "%s\x00%d\x00", filepath.Base(file), len(data))
		hash.Write(data)
		for _, doc := range parseFile(file, data, &errs) {
			p.merge(doc, &errs)
		}
	}
	errs = append(errs, validateAfterDecode(p, errs)...)
	if len(errs) == 0 {
		p.readAuthFiles(hash, &errs)
	}
	if err := errs.err(); err != nil {
		return nil, "", err
	}
	hashTLSFiles(p, hash)
	return p, hex.EncodeToString(hash.Sum(nil))[:16], nil
}

// parseFile decodes every YAML document of one file.
func parseFile(file string, data []byte, errs *Errors) []*document {
	var docs []*document
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			pos, msg := locateSyntaxError(file, data, err)
			errs.add(pos, "", msg)
			return docs
		}
		if len(root.Content) == 0 {
			continue
		}
		doc := &document{}
		d := &decoder{file: file, errs: errs}
		d.decode(root.Content[0], reflectValue(doc), "")
		docs = append(docs, doc)
	}
}

// merge adds one document to the policy; a service declared twice is an
// error at the second declaration.
func (p *Policy) merge(doc *document, errs *Errors) {
	p.Listeners = append(p.Listeners, doc.Listeners...)
	p.Routes = append(p.Routes, doc.Routes...)
	p.mergeObservability(doc, errs)
	p.mergeAuth(doc.Auth, errs)
	mergeNamed(p.Services, doc.Services, "service", "services", errs)
	p.mergeRateLimits(doc, errs)
	p.mergeReloadGuard(doc.ReloadGuard, errs)
	p.mergeRollout(doc.Rollout, errs)
	p.mergeRateLimitHeaders(doc.RateLimitHeaders, errs)
	p.mergeLimitCalls(doc.LimitCalls, errs)
}

// named is an element declared under a name in a mapping (services,
// rate limits, tiers): it knows where it was written and takes its name
// from its key.
type named[E any] interface {
	*E
	Pos() Pos
	setName(string)
}

// mergeNamed adds one document's named elements to those of earlier
// documents, in name order; a name declared twice is an error at the
// second declaration. An element written with no body ("orders:") is an
// empty one, which validation then reports.
func mergeNamed[E any, P named[E]](into, from map[string]P, kind, section string, errs *Errors) {
	for _, name := range sortedKeys(from) {
		e := from[name]
		if e == nil {
			e = P(new(E))
		}
		e.setName(name)
		if first, dup := into[name]; dup {
			errs.addf(e.Pos(), mapPath(section, name), "%s %q is already defined at %s", kind, name, first.Pos())
			continue
		}
		into[name] = e
	}
}

// validateAfterDecode validates what decoded, so that one run reports
// decoding and validation problems together. A value that failed to decode
// was left empty, and validation would complain about it again: its
// errors at the position of a decoding error, or at no position at all
// (an element that did not decode has none), are dropped.
func validateAfterDecode(p *Policy, decodeErrs Errors) Errors {
	failed := map[Pos]bool{}
	for _, e := range decodeErrs {
		failed[e.Pos] = true
	}
	var all, kept Errors
	validate(p, &all)
	for _, e := range all {
		if e.Pos.File != "" && !failed[e.Pos] {
			kept = append(kept, e)
		}
	}
	return kept
}
