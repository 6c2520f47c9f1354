package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set at build time with -ldflags "-X main.version=...": the
// Makefile sets it from `git describe`. "dev" means it was not, and the
// module version recorded by `go install module@version` is used instead.
var version = "dev"

// revision is the commit, set with -ldflags "-X main.revision=..." by the
// Makefile: the toolchain's own record (vcs.revision) is missing when
// the build runs with -buildvcs=false or outside a checkout (a Docker
// build context without .git, a git worktree), and wins when present.
var revision = ""

// buildVersion says which build this is, from the -X variable and what
// the Go toolchain records in the binary (runtime/debug.ReadBuildInfo).
type buildVersion struct {
	Version   string // `git describe`, the module version, or "dev"
	Revision  string // the VCS commit, "" when not built from a checkout
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string
}

// currentBuild reads the build's version.
func currentBuild() buildVersion {
	b := buildVersion{Version: version, Revision: revision, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// revision is the commit, marked when the tree had uncommitted changes.
func (b buildVersion) revision() string {
	if b.Modified && b.Revision != "" {
		return b.Revision + "-modified"
	}
	return b.Revision
}

func printVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version", "Usage: tollgate version\n\nPrints the version, the commit and the Go version of this build.\n")
	if err := noArgs(parseArgs(fs, args)); err != nil {
		return err
	}
	b := currentBuild()
	fmt.Fprintln(stdout, "tollgate", b.Version)
	if r := b.revision(); r != "" {
		fmt.Fprintln(stdout, "revision:", r)
	}
	fmt.Fprintln(stdout, "go:", b.GoVersion)
	return nil
}

// newBuildInfo registers tollgate_build_info, the usual constant 1 whose
// labels say which build is running, so that dashboards and alerts can
// tell replicas of different versions apart.
func newBuildInfo(reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tollgate_build_info",
		Help: "Always 1; the labels say which build of Tollgate is running.",
	}, []string{"version", "revision", "go_version"})
	b := currentBuild()
	g.WithLabelValues(b.Version, b.revision(), b.GoVersion).Set(1)
	reg.MustRegister(g)
}
