// Command tollgate is the Tollgate control plane: it compiles policy files
// into Envoy configuration and serves it over xDS. This file and its
// siblings only parse flags and wire packages together.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `Usage: tollgate COMMAND [flags] [arguments]

tollgate is an API gateway control plane for Envoy.

Commands:
  tollgate serve --policy DIR [flags]     serve xDS to Envoy from a policy directory
  tollgate validate DIR                   check a policy directory; print every error
  tollgate check --policy DIR METHOD URL  which route would handle a request, and why
  tollgate preflight --policy DIR         the production deployment checklist, item by item
  tollgate translate DIR                  print the Envoy resources a policy produces
  tollgate diff A [B]                     what changes between two policies, in Envoy terms
  tollgate keys new|rotate|revoke|list    manage API keys (the keys file holds hashes only)
  tollgate bootstrap [flags]              write the Envoy bootstrap of one proxy
  tollgate health URL...                  exit 0 when every URL answers 2xx (container health checks)
  tollgate status [--admin URL]           proxies, generations, rollout and degraded modes of a running Tollgate
  tollgate version                        print the version

Run "tollgate COMMAND -h" for a command's flags. -h prints usage and exits 0;
a usage error exits 2, a runtime failure 1.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code; exit
// (cli.go) prints what went wrong, once.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return exit("", usagef("no command given"), stdout, stderr)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return exit(cmd, serve(rest, stderr), stdout, stderr)
	case "validate":
		return exit(cmd, validate(rest, stdout, stderr), stdout, stderr)
	case "check":
		return exit(cmd, check(rest, stdout, stderr), stdout, stderr)
	case "preflight":
		return exit(cmd, preflightCmd(rest, stdout, stderr), stdout, stderr)
	case "translate":
		return exit(cmd, translate(rest, stdout, stderr), stdout, stderr)
	case "diff":
		return exit(cmd, diff(rest, stdout, stderr), stdout, stderr)
	case "keys":
		return keys(rest, stdout, stderr)
	case "bootstrap":
		return exit(cmd, bootstrap(rest, stdout), stdout, stderr)
	case "health":
		return exit(cmd, health(rest, stdout), stdout, stderr)
	case "status":
		return exit(cmd, statusCmd(rest, stdout), stdout, stderr)
	case "version":
		return exit(cmd, printVersion(rest, stdout), stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		return exit("", usagef("unknown command %q", cmd), stdout, stderr)
	}
}
