package preflight

import (
	"fmt"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
)

// checkAPIKeys: "all API keys are stored as hashed values and scope
// restrictions are enforced per key". The keys file holds hashes only by
// construction (authz.ParseKeysFile refuses anything else, so a pasted
// plaintext key fails here with its line); scopes are enforced in two
// places, both checked: every active key carries scopes or services (an
// unscoped key opens every route that takes keys), and every route that
// takes keys and refuses anonymous callers asks for scopes (a route
// asking none lets any key in). A route open to anonymous callers needs
// no scope: a key adds nothing to what it grants.
func checkAPIKeys(p *policy.Policy) Result {
	const id, title = "api-keys", "API keys hashed and scoped"
	if p.Auth == nil || p.Auth.APIKeys == nil {
		return notApplicable(id, title, "no API keys configured")
	}
	k := p.Auth.APIKeys
	file := filepath.Join(filepath.Dir(k.Pos().File), k.File)
	var f findings
	detail := "no keys file yet"
	if !k.Missing() {
		detail = checkKeysFile(&f, file, k.Data)
	}
	for _, r := range p.Routes {
		if r.Auth != nil && r.Auth.Accepts(policy.CredAPIKey) && !r.Auth.Accepts(policy.CredAnonymous) && len(r.Auth.Scopes) == 0 {
			f.add(r.Auth.Pos(), "route %s takes API keys but asks for no scope: any key may call it; add auth.scopes", r.Name)
		}
	}
	return f.result(id, title, detail)
}

// checkKeysFile adds a finding per unscoped active key, or the file's own
// errors, and says what it found.
func checkKeysFile(f *findings, file string, data []byte) string {
	kf, err := authz.ParseKeysFile(file, data)
	if err != nil {
		f.add(policy.Pos{File: file}, "%v", err)
		return "the keys file does not parse"
	}
	pos := recordPositions(file, data)
	now := time.Now()
	active := 0
	for i, rec := range kf.Keys {
		if rec.Status(now) != "active" {
			continue
		}
		active++
		if len(rec.Scopes) == 0 && len(rec.Services) == 0 {
			at := policy.Pos{File: file}
			if i < len(pos) {
				at = pos[i]
			}
			f.add(at, "key %s has neither scopes nor services: it may call every route that takes keys; issue a scoped one (`tollgate keys new --scopes ...`) and revoke it", rec.ID)
		}
	}
	return fmt.Sprintf("%d active keys, stored as SHA-256 hashes", active)
}

// recordPositions is where each item of the keys list starts.
func recordPositions(file string, data []byte) []policy.Pos {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != "keys" {
			continue
		}
		var out []policy.Pos
		for _, item := range doc.Content[i+1].Content {
			out = append(out, policy.Pos{File: file, Line: item.Line, Col: item.Column})
		}
		return out
	}
	return nil
}
