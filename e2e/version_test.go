package e2e

import (
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// tollgate_build_info on a serving Tollgate's /metrics names the build
// `tollgate version` of the same binary reports.
func TestBuildInfoMetricMatchesVersion(t *testing.T) {
	dir := policyDir(t, map[string]string{"gateway.yaml": `listeners: [{ name: public, port: 8080 }]
services: { s: { endpoints: [127.0.0.1:9001] } }
routes: [{ name: r, match: { path_prefix: / }, to: s, auth: { public: true } }]
`})
	tg := startTollgate(t, dir, "")
	_, body, err := httpGet(tg.adminURL("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^tollgate_build_info\{go_version="([^"]*)",revision="([^"]*)",version="([^"]*)"\} 1$`).FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no tollgate_build_info sample in /metrics")
	}
	out, err := exec.Command(tollgateBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "tollgate " + m[3] + "\n"
	if m[2] != "" {
		want += "revision: " + m[2] + "\n"
	}
	want += "go: " + m[1] + "\n"
	if string(out) != want || m[1] != runtime.Version() {
		t.Errorf("tollgate version says %q; the metric %q", out, strings.TrimSpace(m[0]))
	}
}
