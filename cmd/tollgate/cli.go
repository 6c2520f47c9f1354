package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The command-line convention every subcommand follows, so that scripts
// can rely on it:
//
//   - -h, --help: the command's usage on stdout, exit 0;
//   - a usage error (unknown flag, bad flag value, missing argument):
//     "tollgate CMD: <error>" and "run 'tollgate CMD -h' for usage" on
//     stderr, exit 2;
//   - a runtime failure: "tollgate CMD: <error>" on stderr, exit 1.
//
// Commands return errors and only exit prints them, so each error is
// printed once. Flags are parsed by parseArgs alone, with duration flags
// from durationVar, so every command reads the same syntax.

// usageError is a mistake on the command line: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// helpRequest is -h or --help: print the usage of fs on stdout.
type helpRequest struct{ fs *flag.FlagSet }

func (helpRequest) Error() string { return "help requested" }

// exitStatus is a result the command has reported itself (validate's
// policy errors, check's "no route"): exit with it, print nothing more.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// newFlagSet returns the flag set of command cmd ("serve", "keys new");
// usage is the text -h prints before the flags.
func newFlagSet(cmd, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		if hasFlags(fs) {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseArgs parses flags wherever they appear among the arguments (so that
// `check GET /x -H 'a: b'` works as well as flags first) and returns the
// other arguments; everything after "--" is an argument. The flag package
// prints nothing: its errors come back as usage errors for exit to print.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, helpRequest{fs}
			}
			return nil, usageError{err}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// noArgs passes parseArgs's error on, or refuses arguments left over.
func noArgs(positional []string, err error) error {
	if err == nil && len(positional) > 0 {
		err = usagef("unexpected argument %q", positional[0])
	}
	return err
}

// exit prints err the way the convention says and returns the exit code.
// cmd names the command in messages: "serve", "keys new", or "" for
// tollgate itself.
func exit(cmd string, err error, stdout, stderr io.Writer) int {
	name := strings.TrimSpace("tollgate " + cmd)
	var help helpRequest
	var usage usageError
	var status exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		help.fs.SetOutput(stdout)
		help.fs.Usage()
		return 0
	case errors.As(err, &status):
		return int(status)
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\nrun '%s -h' for usage\n", name, err, name)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
}

// durationValue is a flag.Value for durations that also reads days: "90d",
// "1d12h", besides everything time.ParseDuration reads.
type durationValue time.Duration

// durationVar defines a duration flag; every command's duration flags use
// it, so they all read the same syntax.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	// The back-quoted word names the value in -h: "-poll duration".
	fs.Var((*durationValue)(p), name, usage+"; a `duration` such as 90s, 12h or 2d")
}

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string {
	v := time.Duration(*d)
	if v >= 24*time.Hour && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

// Get makes the flag a flag.Getter.
func (d *durationValue) Get() any { return time.Duration(*d) }

// parseDuration reads a Go duration, optionally led by a number of days;
// no flag takes a negative one.
func parseDuration(s string) (time.Duration, error) {
	bad := errors.New("write a duration such as 90s, 12h, 2d or 1d12h")
	var days time.Duration
	if before, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(before, 10, 16)
		if err != nil {
			return 0, bad
		}
		days, s = time.Duration(n)*24*time.Hour, after
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	return days + d, nil
}
