// Command tollgate is the Tollgate control plane: it compiles policy files
// into Envoy configuration and serves it over xDS. This file and its
// siblings only parse flags and wire packages together.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `tollgate: an API gateway control plane for Envoy

Usage:
  tollgate serve --policy DIR [flags]   serve xDS to Envoy from a policy directory
  tollgate validate DIR                 check a policy directory; print every error
  tollgate check --policy DIR METHOD URL  which route would handle a request, and why
  tollgate keys new|rotate|revoke|list  manage API keys (the keys file holds hashes only)
  tollgate version                      print the version

Run "tollgate COMMAND -h" for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stderr)
	case "validate":
		return validate(args[1:], stdout, stderr)
	case "check":
		return check(args[1:], stdout, stderr)
	case "keys":
		return keys(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "tollgate", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
