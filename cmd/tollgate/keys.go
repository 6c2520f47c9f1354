package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/authz"
)

const keysUsage = `Usage:
  tollgate keys new --id ID --scopes a,b --tier T [--expires 90d] [--services s1,s2] --file KEYSFILE
  tollgate keys rotate ID [--overlap 24h] --file KEYSFILE
  tollgate keys revoke ID --file KEYSFILE
  tollgate keys list --file KEYSFILE

The keys file holds hashes only. "new" and "rotate" print the key once: store
it now, Tollgate cannot show it again. A running Tollgate reloads the file.
`

// keys runs `tollgate keys SUBCOMMAND`.
func keys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "new":
		err = keysNew(args[1:], stdout, stderr)
	case "rotate":
		err = keysRotate(args[1:], stdout, stderr)
	case "revoke":
		err = keysRevoke(args[1:], stdout, stderr)
	case "list":
		err = keysList(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, keysUsage)
		return 0
	default:
		err = fmt.Errorf("unknown subcommand %q\n\n%s", args[0], keysUsage)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "tollgate keys:", err)
		}
		return 2
	}
	return 0
}

// keysFlags parses a subcommand's flags; a leading non-flag argument is
// the key id (`revoke ID --file F`).
func keysFlags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (id, file string, err error) {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&file, "file", "", "the keys file (required)")
	fs.StringVar(&id, "id", "", "the key id")
	define(fs)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", "", err
	}
	if file == "" || fs.NArg() > 0 {
		return "", "", errors.New("--file KEYSFILE is required, and nothing may follow the flags")
	}
	return id, file, nil
}

func keysNew(args []string, stdout, stderr io.Writer) error {
	var scopes, services, tier, expires string
	id, file, err := keysFlags("new", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&scopes, "scopes", "", "comma-separated scopes, such as orders:read,orders:write")
		fs.StringVar(&tier, "tier", "", "the key's tier (plan), used by rate limits")
		fs.StringVar(&services, "services", "", "comma-separated services the key may call (default: all)")
		fs.StringVar(&expires, "expires", "", "lifetime, such as 90d or 12h (default: never)")
	})
	if err != nil {
		return err
	}
	life, err := parseLifetime(expires)
	if err != nil {
		return err
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
	fmt.Fprintln(stdout, plain)
	fmt.Fprintf(stderr, "key %q added to %s; the key above is shown only once\n", id, file)
	return nil
}

func keysRotate(args []string, stdout, stderr io.Writer) error {
	var overlap time.Duration
	id, file, err := keysFlags("rotate", args, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&overlap, "overlap", 24*time.Hour, "how long the current secret stays valid beside the new one")
	})
	if err != nil {
		return err
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
	fmt.Fprintln(stdout, plain)
	fmt.Fprintf(stderr, "key %q rotated; the old secret stays valid for %s; the key above is shown only once\n", id, overlap)
	return nil
}

func keysRevoke(args []string, _, stderr io.Writer) error {
	id, file, err := keysFlags("revoke", args, stderr, func(*flag.FlagSet) {})
	if err != nil {
		return err
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
	id, file, err := keysFlags("list", args, stderr, func(*flag.FlagSet) {})
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

// parseLifetime reads a duration, also in days ("90d").
func parseLifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("--expires %q: write a number of days (90d) or a duration (12h)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--expires %q: write a number of days (90d) or a duration (12h)", s)
	}
	return d, nil
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
