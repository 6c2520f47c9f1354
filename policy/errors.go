package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem in a policy, at the place it was written.
type Error struct {
	Pos Pos
	// Path is the field path, such as "services.orders.endpoints[1]".
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// Errors is every problem found in a policy, sorted by file, line and
// column. Load returns all of them at once so that an author fixes a policy
// in one pass.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es *Errors) add(pos Pos, path, msg string) {
	*es = append(*es, &Error{Pos: pos, Path: path, Msg: msg})
}

func (es *Errors) addf(pos Pos, path, format string, args ...any) {
	es.add(pos, path, fmt.Sprintf(format, args...))
}

func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
		)
	})
}

// err returns es as an error, or nil when there is nothing to report.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// listPath is the field path of the i-th element of a list section
// (listeners, routes): by its name when it has a valid one, so that an
// error reads as the name the author wrote, else by index. Every
// validation of a list element builds its path here, so that one element's
// errors all name it the same way.
func listPath(section string, i int, name string) string {
	if nameRE.MatchString(name) {
		return section + "." + name
	}
	return indexPath(section, i)
}

// indexPath is the path of a list element by index only, for the one error
// its name cannot identify: a name declared twice.
func indexPath(section string, i int) string { return fmt.Sprintf("%s[%d]", section, i) }

// mapPath is the field path of an element of a mapping section (services,
// rate_limits, tiers), which is always by name.
func mapPath(section, name string) string { return section + "." + name }
