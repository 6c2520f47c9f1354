// Package docs holds Tollgate's Markdown documentation (policy.md,
// operations.md, benchmarks.md). Its test checks that every relative link
// in the documentation, the README and CONTRIBUTING.md reaches a file that
// exists and, for a #fragment, a heading of that file.
package docs

// policy.schema.json is generated from the policy types: `go generate
// ./docs/` or `make schema`; a test in internal/policyschema keeps it so.
//go:generate go run ../internal/policyschema/gen -policy ../policy -o policy.schema.json
