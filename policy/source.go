package policy

import "fmt"

// Pos is a place in a policy file.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Source records where a policy element and each of its fields were
// written, so that validation can point at the exact line and column. The
// decoder fills it; nothing else writes it.
type Source struct {
	pos    Pos
	fields map[string]Pos
}

// Pos is where the element starts.
func (s Source) Pos() Pos { return s.pos }

// At is where the value of the named field (its YAML key) starts, or the
// element's own position when the field was not written.
func (s Source) At(field string) Pos {
	if p, ok := s.fields[field]; ok {
		return p
	}
	return s.pos
}

// Has reports whether the field was written in the file.
func (s Source) Has(field string) bool {
	_, ok := s.fields[field]
	return ok
}
