package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/tollgate/tollgate/authz"
	"github.com/tollgate/tollgate/policy"
)

// validate checks a policy directory the way serve would load it, for CI
// pipelines and pre-commit hooks: exit 0 when valid, 1 with every
// positioned error otherwise.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tollgate validate DIR")
		fmt.Fprintln(stderr, "Checks a policy directory (and the key and certificate files it names) as serve would load it;")
		fmt.Fprintln(stderr, "exits 0 when valid, 1 after printing every error as file:line:col: field: message.")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	p, err := policy.Load(fs.Arg(0))
	if err == nil {
		err = authz.CheckFiles(p)
	}
	if err == nil {
		// serve refuses a policy without listeners even as its first
		// generation; the route guard needs a serving one to compare with.
		err = policy.CheckReload(nil, p)
	}
	if err != nil {
		printPolicyErrors(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d listener(s), %d service(s), %d route(s); version %s\n",
		len(p.Listeners), len(p.Services), len(p.Routes), p.Version)
	printNotes(stdout, p)
	return 0
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
