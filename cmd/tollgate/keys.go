package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/authz"
)

// keysSynopsis is each subcommand's usage line.
var keysSynopsis = map[string]string{
	"new":    "tollgate keys new --id ID --scopes a,b --tier T [--expires 90d] [--services s1,s2] [--if-missing] --file KEYSFILE",
	"rotate": "tollgate keys rotate ID [--overlap 24h] --file KEYSFILE",
	"revoke": "tollgate keys revoke ID --file KEYSFILE",
	"list":   "tollgate keys list [ID] --file KEYSFILE",
}

const keysAbout = `The keys file holds hashes only. "new" and "rotate" print the key once: store
it now, Tollgate cannot show it again. A running Tollgate reloads the file.
`

var keysUsage = "Usage:\n  " + strings.Join([]string{keysSynopsis["new"], keysSynopsis["rotate"], keysSynopsis["revoke"], keysSynopsis["list"]}, "\n  ") +
	"\n\n" + keysAbout

// keys runs `tollgate keys SUBCOMMAND`.
func keys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return exit("keys", usagef("no subcommand: want new, rotate, revoke or list"), stdout, stderr)
	}
	subcommands := map[string]func(args []string, stdout, stderr io.Writer) error{
		"new": keysNew, "rotate": keysRotate, "revoke": keysRevoke, "list": keysList,
	}
	sub, rest := args[0], args[1:]
	switch f := subcommands[sub]; {
	case f != nil:
		return exit("keys "+sub, f(rest, stdout, stderr), stdout, stderr)
	case sub == "-h" || sub == "--help" || sub == "help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	default:
		return exit("keys", usagef("unknown subcommand %q: want new, rotate, revoke or list", sub), stdout, stderr)
	}
}

// keysFlags parses a subcommand's flags; the key id is --id or the one
// argument (`revoke ID --file F`).
func keysFlags(name string, args []string, define func(fs *flag.FlagSet)) (id, file string, err error) {
	fs := newFlagSet("keys "+name, "Usage: "+keysSynopsis[name]+"\n\n"+keysAbout)
	fs.StringVar(&file, "file", "", "the keys file (required)")
	fs.StringVar(&id, "id", "", "the key id")
	define(fs)
	positional, err := parseArgs(fs, args)
	switch {
	case err != nil:
		return "", "", err
	case len(positional) > 1 || (len(positional) == 1 && id != "" && id != positional[0]):
		return "", "", usagef("one key id at most, as ID or --id ID")
	case file == "":
		return "", "", usagef("--file KEYSFILE is required")
	}
	if len(positional) == 1 {
		id = positional[0]
	}
	return id, file, nil
}

func keysNew(args []string, stdout, stderr io.Writer) error {
	var scopes, services, tier string
	var life time.Duration
	var ifMissing bool
	id, file, err := keysFlags("new", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&ifMissing, "if-missing", false, "only when the keys file does not exist yet; otherwise change and print nothing (for a first-start job)")
		fs.StringVar(&scopes, "scopes", "", "comma-separated scopes, such as orders:read,orders:write")
		fs.StringVar(&tier, "tier", "", "the key's tier (plan), used by rate limits")
		fs.StringVar(&services, "services", "", "comma-separated services the key may call (default: all)")
		durationVar(fs, &life, "expires", 0, "lifetime, such as 90d or 12h (default: never)")
	})
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("--id ID is required")
	}
	if ifMissing {
		if exists, err := fileExists(file); err != nil || exists {
			return err
		}
	}
	kf, err := authz.ReadKeysFile(file)
	if err != nil {
		return err
	}
	plain, err := authz.AddKey(kf, authz.NewKeyOptions{ID: id, Scopes: splitList(scopes), Tier: tier, Services: splitList(services), Expires: life}, time.Now())
	if err != nil {
		return err
	}
	if err := authz.WriteKeysFile(file, kf); err != nil {
		return err
	}
	if err := showKey(stdout, id, plain); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "key %q added to %s; the key above is shown only once\n", id, file)
	return nil
}

func keysRotate(args []string, stdout, stderr io.Writer) error {
	var overlap time.Duration
	id, file, err := keysFlags("rotate", args, func(fs *flag.FlagSet) {
		durationVar(fs, &overlap, "overlap", 24*time.Hour, "how long the current secret stays valid beside the new one")
	})
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("the key ID is required")
	}
	kf, err := authz.ReadKeysFile(file)
	if err != nil {
		return err
	}
	plain, err := authz.Rotate(kf, id, overlap, time.Now())
	if err != nil {
		return err
	}
	if err := authz.WriteKeysFile(file, kf); err != nil {
		return err
	}
	if err := showKey(stdout, id, plain); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "key %q rotated; the old secret stays valid for %s; the key above is shown only once\n", id, overlap)
	return nil
}

// showKey prints a new secret, the only time it is shown. The keys file
// holds its hash only, so when it cannot be printed (stdout closed, disk
// full) nobody has it: fail, so that no script takes it for a success.
func showKey(stdout io.Writer, id, plain string) error {
	if _, err := fmt.Fprintln(stdout, plain); err != nil {
		return fmt.Errorf("the new secret of key %q was saved but could not be shown (%v), so nobody has it: rotate or revoke the key", id, err)
	}
	return nil
}

func keysRevoke(args []string, _, stderr io.Writer) error {
	id, file, err := keysFlags("revoke", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if id == "" {
		return usagef("the key ID is required")
	}
	kf, err := authz.ReadKeysFile(file)
	if err != nil {
		return err
	}
	if err := authz.Revoke(kf, id, time.Now()); err != nil {
		return err
	}
	if err := authz.WriteKeysFile(file, kf); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "key %q revoked\n", id)
	return nil
}

// keysList shows every key, or only the one named by --id (or ID).
func keysList(args []string, stdout, stderr io.Writer) error {
	id, file, err := keysFlags("list", args, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	kf, err := authz.ReadKeysFile(file)
	if err != nil {
		return err
	}
	used, err := authz.ReadUsage(authz.UsagePath(file))
	if err != nil {
		return fmt.Errorf("reading last-used times: %w", err)
	}
	now := time.Now()
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tTIER\tSCOPES\tSERVICES\tEXPIRES\tLAST USED")
	for _, k := range kf.Keys {
		if id != "" && k.ID != id {
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Status(now), dash(k.Tier), dash(strings.Join(k.Scopes, ",")),
			dash(strings.Join(k.Services, ",")), timeOrDash(k.Expires), timeOrDash(ptr(used[k.ID])))
	}
	return w.Flush()
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// fileExists reports whether path exists; an error other than "not
// there" (a permission problem, say) is returned rather than guessed.
func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}
