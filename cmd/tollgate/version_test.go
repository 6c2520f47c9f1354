package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A binary built as the Makefile builds it reports the -X version and
// commit (without the toolchain's vcs record, as under -buildvcs=false),
// and the Go version.
func TestVersionReportsTheBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tollgate")
	build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", "-X main.version=v1.0.0 -X main.revision=0123abc", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "tollgate v1.0.0\nrevision: 0123abc\ngo: " + runtime.Version() + "\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestVersionWithoutLdflags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "tollgate dev\n") || !strings.HasSuffix(out.String(), "go: "+runtime.Version()+"\n") {
		t.Errorf("got %q", out.String())
	}
}

func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	newBuildInfo(reg)
	b := currentBuild()
	want := `# HELP tollgate_build_info Always 1; the labels say which build of Tollgate is running.
# TYPE tollgate_build_info gauge
tollgate_build_info{go_version="` + runtime.Version() + `",revision="` + b.revision() + `",version="` + b.Version + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tollgate_build_info"); err != nil {
		t.Error(err)
	}
}
