package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// linkRE finds the target of a Markdown link or image: ](target).
var linkRE = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// headingRE finds an ATX heading's text.
var headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// prose returns a Markdown file's lines, those of fenced code blocks
// blanked: links and headings mean something only outside them.
func prose(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			line = ""
		}
		if fenced {
			line = ""
		}
		out = append(out, line)
	}
	return out
}

// slug is GitHub's anchor for a heading: lower case, code spans and
// punctuation dropped (but - and _), spaces made hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors are the heading anchors of a Markdown file, with GitHub's -1,
// -2 suffixes for repeated headings.
func anchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, line := range prose(t, path) {
		if m := headingRE.FindStringSubmatch(line); m != nil {
			s := slug(m[1])
			for i := 1; out[s]; i++ {
				s = fmt.Sprintf("%s-%d", slug(m[1]), i)
			}
			out[s] = true
		}
	}
	return out
}

// Every relative link in the README, CONTRIBUTING.md and docs/*.md names a
// file or directory that exists, and a #fragment names one of its headings.
func TestRelativeLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{"../README.md", "../CONTRIBUTING.md"}, docs...)
	checked := 0
	for _, file := range files {
		for n, line := range prose(t, file) {
			for _, m := range linkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				checked++
				path, fragment, _ := strings.Cut(target, "#")
				resolved := file
				if path != "" {
					resolved = filepath.Join(filepath.Dir(file), path)
					if _, err := os.Stat(resolved); err != nil {
						t.Errorf("%s:%d: link %q: %v", file, n+1, target, err)
						continue
					}
				}
				if fragment != "" && strings.HasSuffix(resolved, ".md") && !anchors(t, resolved)[fragment] {
					t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s", file, n+1, target, resolved, fragment)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d relative links; is the link pattern still right?", checked)
	}
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"`make run` on other ports":                                                         "make-run-on-other-ports",
		"Authentication and authorization (`auth`)":                                         "authentication-and-authorization-auth",
		"When Tollgate is unreachable (`failure_mode`, `timeout`)":                          "when-tollgate-is-unreachable-failure_mode-timeout",
		"Resilience: timeouts, retries, circuit breakers, outlier detection, health checks": "resilience-timeouts-retries-circuit-breakers-outlier-detection-health-checks",
		"Decision path (target: memory store ≥ 0.8 of the no-op server)":                    "decision-path-target-memory-store--08-of-the-no-op-server",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
