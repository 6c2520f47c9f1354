// Package docs holds Tollgate's Markdown documentation (policy.md,
// operations.md, benchmarks.md). Its test checks that every relative link
// in the documentation, the README and CONTRIBUTING.md reaches a file that
// exists and, for a #fragment, a heading of that file.
package docs
