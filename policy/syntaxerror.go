package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	yamlv4 "go.yaml.in/yaml/v4"
)

// locateSyntaxError finds where a YAML syntax error is, as file:line:col,
// and says what is wrong there.
//
// The decoder (yaml v3) reports only a line, and the wrong one: its
// message names the line where the enclosing collection starts, not the
// problem (v3 decode.go, parser.fail prefers context_mark over
// problem_mark), so an error anywhere in the first list of a file was
// reported at 1:1. yaml v4 returns both marks in a LoadError; on the
// error path only, the same bytes are parsed again with it. Should v4
// find no error, v3's own line is kept.
func locateSyntaxError(file string, data []byte, err error) (Pos, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var le *yamlv4.LoadError
	if !errors.As(firstLoadError(data), &le) || le.Mark.Line == 0 {
		return Pos{File: file, Line: lineOf(msg), Col: 1}, msg
	}
	msg = le.Message
	if le.Mark.Index >= len(data) {
		msg += " at the end of the file"
	}
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg += fmt.Sprintf(" (%s at %d:%d)", le.ContextMsg, le.ContextMark.Line, le.ContextMark.Column)
	}
	return Pos{File: file, Line: le.Mark.Line, Col: max(le.Mark.Column, 1)}, msg
}

// firstLoadError parses every document of data with yaml v4 and returns
// the first error.
func firstLoadError(data []byte) error {
	dec := yamlv4.NewDecoder(bytes.NewReader(data))
	for {
		var n yamlv4.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// lineOf is the line a v3 message names ("line N: ..."), or 1.
func lineOf(msg string) int {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d:", &n); err != nil || n < 1 {
		return 1
	}
	return n
}
