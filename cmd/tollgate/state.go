package main

import (
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/tollgate/tollgate/internal/reloader"
)

// stateDirDefaultHelp says in --help where the state directory defaults to.
const stateDirDefaultHelp = "$STATE_DIRECTORY (systemd), else $XDG_STATE_HOME/tollgate, else ~/.local/state/tollgate"

// defaultStateDir is where serve keeps its last good generation when
// --state-dir is not given: a directory of the user running Tollgate, so
// that it works without root and is never inside a policy directory; ""
// (keep none) when no home directory is known.
func defaultStateDir() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "tollgate")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "state", "tollgate")
	}
	return ""
}

// flagSet reports whether the named flag was given on the command line,
// to tell an explicit empty value from an absent flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// useState has the reloader keep the last good generation in the state
// directory, unless it is disabled.
func useState(rl *reloader.Reloader, c *serveConfig, log *slog.Logger) error {
	if c.stateDir == "" {
		log.Warn("no state directory: a restart while the policy is invalid serves nothing until it is fixed")
		return nil
	}
	st, err := reloader.NewState(c.stateDir, c.policyDir)
	if err != nil {
		return err
	}
	log.Info("keeping the last good policy generation", "state", st.Path())
	rl.UseState(st)
	return nil
}
