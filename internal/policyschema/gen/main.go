// Command gen writes the JSON Schema of the policy format: `go generate
// ./docs/` (or `make schema`) runs it to rewrite docs/policy.schema.json.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/tollgate/tollgate/internal/policyschema"
)

func main() {
	src := flag.String("policy", "../policy", "the policy package's source directory")
	out := flag.String("o", "policy.schema.json", "the file to write")
	flag.Parse()
	data, err := policyschema.Generate(*src)
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "policyschema:", err)
		os.Exit(1)
	}
}
