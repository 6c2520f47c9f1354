package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every subcommand follows one convention (cli.go): -h prints usage on
// stdout and exits 0; a usage error prints one line naming the command and
// one pointing at -h on stderr and exits 2; a runtime failure prints one
// line on stderr and exits 1. Nothing is printed twice.
func TestEveryCommandFollowsTheCommandLineConvention(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys.yaml")
	if _, errOut, code := runCmd(t, "keys", "new", "--id", "k", "--file", keysFile); code != 0 {
		t.Fatalf("keys new: %s", errOut)
	}
	missing := filepath.Join(dir, "no-such-dir")
	const example = "../../examples/gateway"
	type want int
	const (
		help want = iota
		usageError
		failure
		success
	)
	for _, tc := range []struct {
		args []string
		want want
		cmd  string // the command named in errors; "" for tollgate itself
	}{
		{[]string{"-h"}, help, ""},
		{[]string{"--help"}, help, ""},
		{[]string{"help"}, help, ""},
		{[]string{"serve", "-h"}, help, ""},
		{[]string{"serve", "--help"}, help, ""},
		{[]string{"validate", "-h"}, help, ""},
		{[]string{"check", "-h"}, help, ""},
		{[]string{"keys", "-h"}, help, ""},
		{[]string{"keys", "new", "-h"}, help, ""},
		{[]string{"keys", "rotate", "--help"}, help, ""},
		{[]string{"keys", "revoke", "-h"}, help, ""},
		{[]string{"keys", "list", "-h"}, help, ""},
		{[]string{"version", "-h"}, help, ""},
		{[]string{"translate", "-h"}, help, ""},
		{[]string{"diff", "--help"}, help, ""},

		{nil, usageError, ""},
		{[]string{"frobnicate"}, usageError, ""},
		{[]string{"version", "--bogus"}, usageError, "version"},
		{[]string{"version", "extra"}, usageError, "version"},
		{[]string{"serve"}, usageError, "serve"},
		{[]string{"serve", "--bogus"}, usageError, "serve"},
		{[]string{"serve", "--policy", dir, "stray"}, usageError, "serve"},
		{[]string{"serve", "--policy", dir, "--poll", "soon"}, usageError, "serve"},
		{[]string{"serve", "--policy", dir, "--only", "nope"}, usageError, "serve"},
		{[]string{"serve", "--policy", dir, "--log-format", "xml"}, usageError, "serve"},
		{[]string{"validate"}, usageError, "validate"},
		{[]string{"validate", dir, dir}, usageError, "validate"},
		{[]string{"validate", "--bogus", dir}, usageError, "validate"},
		{[]string{"check"}, usageError, "check"},
		{[]string{"check", "--policy", example, "GET"}, usageError, "check"},
		{[]string{"check", "--policy", example, "GET", "nopath"}, usageError, "check"},
		{[]string{"translate"}, usageError, "translate"},
		{[]string{"translate", "--format", "xml", example}, usageError, "translate"},
		{[]string{"diff"}, usageError, "diff"},
		{[]string{"diff", "a", "b", "c"}, usageError, "diff"},
		{[]string{"keys"}, usageError, "keys"},
		{[]string{"keys", "frob"}, usageError, "keys"},
		{[]string{"keys", "list"}, usageError, "keys list"},
		{[]string{"keys", "new", "--file", keysFile}, usageError, "keys new"},
		{[]string{"keys", "rotate", "--file", keysFile}, usageError, "keys rotate"},
		{[]string{"keys", "revoke", "a", "b", "--file", keysFile}, usageError, "keys revoke"},
		{[]string{"keys", "new", "--id", "x", "--expires", "soon", "--file", keysFile}, usageError, "keys new"},
		{[]string{"keys", "rotate", "k", "--overlap", "soon", "--file", keysFile}, usageError, "keys rotate"},

		{[]string{"serve", "--policy", missing}, failure, "serve"},
		{[]string{"validate", missing}, failure, "validate"},
		{[]string{"translate", missing}, failure, "translate"},
		{[]string{"keys", "revoke", "nobody", "--file", keysFile}, failure, "keys revoke"},

		{[]string{"version"}, success, ""},
		{[]string{"keys", "rotate", "k", "--overlap", "2d", "--file", keysFile}, success, ""},
	} {
		out, errOut, code := runCmd(t, tc.args...)
		name := strings.TrimSpace("tollgate " + tc.cmd)
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		switch tc.want {
		case help:
			if code != 0 || !strings.HasPrefix(out, "Usage") || errOut != "" {
				t.Errorf("tollgate %q: exit %d, want 0 with usage on stdout only; stdout %q, stderr %q", tc.args, code, out, errOut)
			}
		case usageError:
			if code != 2 || out != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], name+": ") ||
				lines[1] != "run '"+name+" -h' for usage" {
				t.Errorf("tollgate %q: exit %d, want 2 with %q: <error> and a pointer to -h on stderr; stdout %q, stderr %q", tc.args, code, name, out, errOut)
			}
		case failure:
			if code != 1 || out != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], name+": ") {
				t.Errorf("tollgate %q: exit %d, want 1 with one line %q: <error> on stderr; stdout %q, stderr %q", tc.args, code, name, out, errOut)
			}
		case success:
			if code != 0 {
				t.Errorf("tollgate %q: exit %d: %s", tc.args, code, errOut)
			}
		}
	}
}

// Every duration flag accepts the same syntax: Go durations and days.
func TestEveryDurationFlagAcceptsDays(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-dir")
	for _, flag := range []string{"--poll", "--key-usage-flush", "--redis-timeout", "--ratelimit-grace-period", "--ratelimit-events-interval"} {
		// The flags parse, so serve gets as far as the missing directory.
		if _, errOut, code := runCmd(t, "serve", "--policy", missing, flag, "2d"); code != 1 || strings.Contains(errOut, "invalid value") {
			t.Errorf("serve %s 2d: exit %d, %s", flag, code, errOut)
		}
	}
	keysFile := filepath.Join(dir, "keys.yaml")
	if _, errOut, code := runCmd(t, "keys", "new", "--id", "k", "--expires", "1d12h", "--file", keysFile); code != 0 {
		t.Errorf("keys new --expires 1d12h: %s", errOut)
	}
	if _, errOut, code := runCmd(t, "keys", "rotate", "k", "--overlap", "2d", "--file", keysFile); code != 0 {
		t.Errorf("keys rotate --overlap 2d: %s", errOut)
	}
	// A flag added with flag.DurationVar would not take days.
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(f, "_test.go") && strings.Contains(string(src), ".DurationVar(") {
			t.Errorf("%s uses flag.DurationVar; use durationVar (cli.go) so that days work", f)
		}
	}
}
