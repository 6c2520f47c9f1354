package main

import (
	"fmt"
	"io"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
)

const validateUsage = `Usage: tollgate validate DIR

Checks a policy directory (and the key and certificate files it names) as
serve would load it; exits 0 when valid, 1 after printing every error as
file:line:col: field: message.
`

// validate checks a policy directory the way serve would load it, for CI
// pipelines and pre-commit hooks: exit 0 when valid, 1 with every
// positioned error otherwise.
func validate(args []string, stdout, stderr io.Writer) error {
	positional, err := parseArgs(newFlagSet("validate", validateUsage), args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return usagef("want one policy directory, got %d arguments", len(positional))
	}
	p, err := policy.Load(positional[0])
	if err == nil {
		err = authz.CheckFiles(p)
	}
	if err == nil {
		// serve refuses a policy without listeners even as its first
		// generation; the route guard needs a serving one to compare with.
		err = policy.CheckReload(nil, p)
	}
	if err != nil {
		return policyFailure(stderr, err, 1)
	}
	fmt.Fprintf(stdout, "ok: %d listener(s), %d service(s), %d route(s); version %s\n",
		len(p.Listeners), len(p.Services), len(p.Routes), p.Version)
	printNotes(stdout, p)
	return nil
}

// printNotes says what is valid but probably not meant: an optional keys
// file that is missing, keys whose tier the policy does not declare.
func printNotes(w io.Writer, p *policy.Policy) {
	if p.Auth == nil || p.Auth.APIKeys == nil {
		return
	}
	k := p.Auth.APIKeys
	if k.Missing() {
		fmt.Fprintf(w, "note: %s does not exist (auth.api_keys optional: true): every API key is refused until `tollgate keys new` creates it\n", k.Path)
		return
	}
	if kf, err := authz.ParseKeysFile(k.Path, k.Data); err == nil {
		for _, problem := range authz.UndeclaredTiers(p, kf) {
			fmt.Fprintf(w, "note: %s: %s\n", k.Path, problem)
		}
	}
}
