package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// linkRE finds the relative links of a Markdown file, without anchors.
var linkRE = regexp.MustCompile(`\]\((\.\./[^)#]+|[a-z][^):#]*\.md)(?:#[^)]*)?\)`)

// docs/deployment.md names only metrics that docs/operations.md documents,
// and links only to files that exist.
func TestDeploymentDocNamesRealMetricsAndFiles(t *testing.T) {
	b, err := os.ReadFile("../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedMetrics(t)
	names := metricRE.FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("found only %d metric names in docs/deployment.md", len(names))
	}
	for _, m := range names {
		if !documented[m] {
			t.Errorf("docs/deployment.md names %s, which docs/operations.md does not document", m)
		}
	}
	for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
		if _, err := os.Stat(filepath.Join("../docs", m[1])); err != nil {
			t.Errorf("docs/deployment.md links to %s: %v", m[1], err)
		}
	}
}
