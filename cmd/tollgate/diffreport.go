package main

import (
	"fmt"
	"io"
)

// fieldsShown bounds the field changes printed per resource in a
// terminal; --json has them all.
const fieldsShown = 12

// writeText prints the report for people: one line per resource or policy
// item (+ added, - removed, ~ changed), the changed fields under it.
func (r *diffReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "--- %s\n+++ %s\n", r.From, r.To)
	if r.Changes == 0 {
		fmt.Fprintln(w, "no changes")
		return
	}
	group := ""
	for _, c := range r.Envoy {
		if c.Group != group {
			group = c.Group
			fmt.Fprintf(w, "envoy resources, group %s:\n", group)
		}
		fmt.Fprintf(w, "  %s %s %s\n", sign(c.Change), c.Type, c.Name)
		if c.Type == "secret" && c.Change == "changed" {
			fmt.Fprintln(w, "      content changed (not shown)")
		}
		if c.Change == "changed" {
			writeFields(w, c.Fields)
		}
	}
	if len(r.Policy) > 0 {
		fmt.Fprintln(w, "auth and limits:")
	}
	for _, c := range r.Policy {
		fmt.Fprintf(w, "  %s %s %s\n", sign(c.Change), c.Kind, c.Name)
		writeFields(w, c.Fields)
	}
	fmt.Fprintf(w, "%d change(s)\n", r.Changes)
}

func writeFields(w io.Writer, fields []fieldChange) {
	for i, f := range fields {
		if i == fieldsShown {
			fmt.Fprintf(w, "      ... %d more (--json shows every field)\n", len(fields)-i)
			return
		}
		path := f.Path
		if path == "" {
			path = "(whole)"
		}
		fmt.Fprintf(w, "      %s: %s -> %s\n", path, compact(f.From, 60), compact(f.To, 60))
	}
}

func sign(change string) string {
	switch change {
	case "added":
		return "+"
	case "removed":
		return "-"
	default:
		return "~"
	}
}
