package main

import "io"

// diff is not written yet.
func diff(_ []string, _, _ io.Writer) error { return usagef("not implemented yet") }
