package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
)

// demoKey is the API key devstack creates for the example policy, so
// that a fresh checkout can call its key-only routes without any key in
// git. Plain is set only on the run that created it: it is shown once,
// like `tollgate keys new` does.
type demoKey struct {
	File  string // the keys file the policy names; "" when it names none
	Plain string
}

// demoKeyOptions are the demo key's id, scopes and tier: enough for every
// route of examples/gateway.
var demoKeyOptions = authz.NewKeyOptions{ID: "demo", Scopes: []string{"orders:read", "orders:write"}, Tier: "gold"}

// ensureDemoKey creates the keys file the policy names, holding one demo
// key, when the file does not exist; it writes it with the code `tollgate
// keys new` uses (hashes only). A policy that does not load, or names no
// keys file, is left to tollgate serve to report.
func ensureDemoKey(policyDir string, now time.Time) (demoKey, error) {
	p, err := policy.Load(policyDir)
	if err != nil || p.Auth == nil || p.Auth.APIKeys == nil {
		return demoKey{}, nil
	}
	k := demoKey{File: p.Auth.APIKeys.Path}
	if _, err := os.Stat(k.File); !errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	kf := &authz.KeysFile{}
	if k.Plain, err = authz.AddKey(kf, demoKeyOptions, now); err != nil {
		return k, err
	}
	if err := authz.WriteKeysFile(k.File, kf); err != nil {
		return demoKey{}, fmt.Errorf("writing the demo API key: %w", err)
	}
	return k, nil
}

// bannerLines are the banner's API key lines: the key and curl commands
// using it on the run that created it, else where keys come from.
func (k demoKey) bannerLines(gateway string) string {
	switch {
	case k.File == "":
		return ""
	case k.Plain != "":
		return fmt.Sprintf(`  Demo API key:    %[1]s
                   (id %[3]s, tier %[4]s; shown this once: only its hash is in %[2]s)
  With the key:    curl -s -H 'X-API-Key: %[1]s' %[5]s/orders
                   curl -s -X POST -H 'X-API-Key: %[1]s' %[5]s/orders   (401 without a key)
`, k.Plain, k.File, demoKeyOptions.ID, demoKeyOptions.Tier, gateway)
	default:
		return fmt.Sprintf(`  API keys:        %[1]s exists; its keys were shown when they were created.
                   Delete it for a new demo key, or: bin/tollgate keys new --id me --scopes orders:read,orders:write --tier gold --file %[1]s
`, k.File)
	}
}
